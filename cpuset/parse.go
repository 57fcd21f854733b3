package cpuset

import (
	"math"
	"strings"

	"golang.org/x/sys/unix"
)

// ParseList parses a list of numbers in the kernel's list format, as
// ParseListLimit(s, MaxBits) does.
func ParseList(s string) (Set, error) { return ParseListLimit(s, MaxBits) }

// ParseListLimit parses s as the kernel's bitmap_parselist does for a
// bitmap of nbits bits (clamped to [0, MaxBits]), which is how writes to
// cpuset.cpus (nbits = the number of possible CPUs) and cpuset.mems (nbits
// = the kernel's MAX_NUMNODES) are read.
//
// The list is made of regions separated by commas or whitespace (the
// kernel's isspace, which counts the Latin-1 no-break space 0xA0; empty
// regions are skipped, so "", "\n" and "0,,1" are fine). A region is a
// number N, a range N-M with N <= M, or either followed by a stride
// ":S/G", which keeps the first S numbers of every group of G from N on
// ("0-7:2/4" is 0,1,4,5). Numbers are decimal, leading zeros allowed; the
// letter N stands for nbits-1 and "all" (any case) for 0-N. Regions may
// repeat and overlap, in any order. As in C, a NUL byte ends s, and so does a
// newline that directly follows a region without a stride ("0\n1" is 0).
//
// Errors, as the kernel's: unix.EINVAL for bad syntax ("a", "0-", "1-0",
// "-1", "0x1", "0-1:3/2", "0-1:1/0"), unix.EOVERFLOW for a number above
// 2^32-1, and unix.ERANGE for a number at or above nbits. The arithmetic is
// the kernel's 32-bit one, quirks included.
func ParseListLimit(s string, nbits int) (Set, error) {
	nbits = min(max(nbits, 0), MaxBits)
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	p := listParser{s: s, nbits: uint32(nbits), lastbit: uint32(nbits) - 1}
	var b bitmap
	for {
		// bitmap_find_region: skip separators; the end stops the parse.
		for p.i < len(s) && isSep(s[p.i]) {
			p.i++
		}
		if p.i >= len(s) {
			return b.done(), nil
		}
		r, more, err := p.region()
		if err != nil {
			return Set{}, err
		}
		if r.start > r.end || r.group == 0 || r.off > r.group {
			return Set{}, unix.EINVAL
		}
		if r.end >= p.nbits {
			return Set{}, unix.ERANGE
		}
		// bitmap_set_region, with unsigned int arithmetic: a group that
		// wraps start around 2^32 goes on from a smaller number, as the
		// kernel does.
		for start := r.start; start <= r.end; start += r.group {
			b.set(int(start), int(min(r.end-start+1, r.off)))
		}
		if !more {
			return b.done(), nil
		}
	}
}

// region is the kernel's struct region: numbers start to end, keeping the
// first off of every group numbers.
type region struct {
	start, end, off, group uint32
}

type listParser struct {
	s       string
	i       int
	nbits   uint32
	lastbit uint32 // nbits-1, wrapping to 2^32-1 for nbits = 0, as in C
}

// at returns the byte at i, or 0 at the end (the C string's NUL).
func (p *listParser) at(i int) byte {
	if i < len(p.s) {
		return p.s[i]
	}
	return 0
}

// region is bitmap_parse_region. more is false when the parse must stop
// after this region.
func (p *listParser) region() (r region, more bool, err error) {
	if p.i+3 <= len(p.s) && lowerASCII(p.s[p.i:p.i+3]) == "all" {
		r.start, r.end = 0, p.lastbit
		p.i += 3
	} else {
		if r.start, err = p.num(); err != nil {
			return r, false, err
		}
		if isEndOfRegion(p.at(p.i)) {
			r.end = r.start
			return p.noPattern(r)
		}
		if p.at(p.i) != '-' {
			return r, false, unix.EINVAL
		}
		p.i++
		if r.end, err = p.num(); err != nil {
			return r, false, err
		}
	}
	if isEndOfRegion(p.at(p.i)) {
		return p.noPattern(r)
	}
	if p.at(p.i) != ':' {
		return r, false, unix.EINVAL
	}
	p.i++
	if r.off, err = p.num(); err != nil {
		return r, false, err
	}
	if p.at(p.i) != '/' {
		return r, false, unix.EINVAL
	}
	p.i++
	if r.group, err = p.num(); err != nil {
		return r, false, err
	}
	return r, true, nil
}

func (p *listParser) noPattern(r region) (region, bool, error) {
	r.off = r.end + 1 // wraps to 0 for 2^32-1, which the check refuses
	r.group = r.end + 1
	return r, !isEndOfStr(p.at(p.i)), nil
}

// num is bitmap_getnum: "N" or decimal digits that fit 32 bits.
func (p *listParser) num() (uint32, error) {
	if p.at(p.i) == 'N' {
		p.i++
		return p.lastbit, nil
	}
	var v uint64
	overflow := false
	n := 0
	for ; p.i+n < len(p.s); n++ {
		c := p.s[p.i+n]
		if c < '0' || c > '9' {
			break
		}
		d := uint64(c - '0')
		if v > (math.MaxUint64-d)/10 {
			overflow = true
		}
		v = v*10 + d
	}
	if n == 0 {
		return 0, unix.EINVAL
	}
	p.i += n
	if overflow || v > math.MaxUint32 {
		return 0, unix.EOVERFLOW
	}
	return uint32(v), nil
}

// isSpace is the kernel's isspace, whose Latin-1 table counts the
// no-break space 0xA0 as a space.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r' || c == 0xA0
}

func isSep(c byte) bool          { return isSpace(c) || c == ',' }
func isEndOfStr(c byte) bool     { return c == 0 || c == '\n' }
func isEndOfRegion(c byte) bool  { return isSep(c) || isEndOfStr(c) }
func lowerASCII(s string) string { return strings.Map(lowerRune, s) }

func lowerRune(r rune) rune {
	if r >= 'A' && r <= 'Z' {
		return r + 'a' - 'A'
	}
	return r
}
