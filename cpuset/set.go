package cpuset

import (
	"iter"
	"math/bits"
	"slices"
	"strconv"
	"strings"
)

// MaxBits bounds the numbers a Set holds: CPU and node numbers range over
// [0, MaxBits). It is the largest NR_CPUS the kernel can be built with
// (CONFIG_MAXSMP), so every real machine fits.
const MaxBits = 8192

// A Set is a set of CPU or memory-node numbers in [0, MaxBits), kept as a
// bitset. The zero Set is empty. A Set is a value: no method modifies its
// receiver, so Sets may be shared and used concurrently without locks. Two
// Sets with the same members are Equal (== is not defined on Sets).
type Set struct {
	w []uint64 // bit i of w[i/64] is number i; no trailing zero words; never modified
}

// Of returns the set of the given numbers. Numbers outside [0, MaxBits) are
// ignored.
func Of(ids ...int) Set {
	var b bitmap
	for _, id := range ids {
		if id >= 0 && id < MaxBits {
			b.set(id, 1)
		}
	}
	return b.done()
}

// Range returns the set of the numbers lo to hi, both included, clipped to
// [0, MaxBits); it is empty if lo > hi.
func Range(lo, hi int) Set {
	lo = max(lo, 0)
	hi = min(hi, MaxBits-1)
	if lo > hi {
		return Set{}
	}
	var b bitmap
	b.set(lo, hi-lo+1)
	return b.done()
}

// Contains reports whether id is in s.
func (s Set) Contains(id int) bool {
	if id < 0 || id/64 >= len(s.w) {
		return false
	}
	return s.w[id/64]&(1<<(id%64)) != 0
}

// Count returns the number of members of s.
func (s Set) Count() int {
	n := 0
	for _, w := range s.w {
		n += bits.OnesCount64(w)
	}
	return n
}

// IsEmpty reports whether s has no members.
func (s Set) IsEmpty() bool { return len(s.w) == 0 }

// Max returns the largest member of s, or -1 if s is empty.
func (s Set) Max() int {
	if len(s.w) == 0 {
		return -1
	}
	i := len(s.w) - 1
	return i*64 + 63 - bits.LeadingZeros64(s.w[i])
}

// All returns an iterator over the members of s in ascending order.
func (s Set) All() iter.Seq[int] {
	return func(yield func(int) bool) {
		for i, w := range s.w {
			for w != 0 {
				b := bits.TrailingZeros64(w)
				if !yield(i*64 + b) {
					return
				}
				w &= w - 1
			}
		}
	}
}

// IDs returns the members of s in ascending order.
func (s Set) IDs() []int { return slices.Collect(s.All()) }

// Equal reports whether s and o have the same members.
func (s Set) Equal(o Set) bool { return slices.Equal(s.w, o.w) }

// SubsetOf reports whether every member of s is in o.
func (s Set) SubsetOf(o Set) bool {
	if len(s.w) > len(o.w) {
		return false
	}
	for i, w := range s.w {
		if w&^o.w[i] != 0 {
			return false
		}
	}
	return true
}

// Intersects reports whether s and o have a member in common.
func (s Set) Intersects(o Set) bool {
	for i := range min(len(s.w), len(o.w)) {
		if s.w[i]&o.w[i] != 0 {
			return true
		}
	}
	return false
}

// Union returns the members of s or o.
func (s Set) Union(o Set) Set {
	if len(s.w) < len(o.w) {
		s, o = o, s
	}
	w := slices.Clone(s.w)
	for i, x := range o.w {
		w[i] |= x
	}
	return trim(w)
}

// Intersect returns the members of both s and o.
func (s Set) Intersect(o Set) Set {
	w := make([]uint64, min(len(s.w), len(o.w)))
	for i := range w {
		w[i] = s.w[i] & o.w[i]
	}
	return trim(w)
}

// Difference returns the members of s that are not in o.
func (s Set) Difference(o Set) Set {
	w := slices.Clone(s.w)
	for i := range min(len(w), len(o.w)) {
		w[i] &^= o.w[i]
	}
	return trim(w)
}

// String returns s in the kernel's list format, as cpuset.cpus reads
// without its newline: ascending, runs of consecutive numbers as "a-b",
// separated by commas ("0-1,3"); "" for the empty set. ParseList reads it
// back.
func (s Set) String() string {
	var b strings.Builder
	lo := -1
	prev := -2
	flush := func() {
		if lo < 0 {
			return
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(lo))
		if prev > lo {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(prev))
		}
	}
	for id := range s.All() {
		if id != prev+1 {
			flush()
			lo = id
		}
		prev = id
	}
	flush()
	return b.String()
}

// trim returns the Set of w, dropping trailing zero words.
func trim(w []uint64) Set {
	n := len(w)
	for n > 0 && w[n-1] == 0 {
		n--
	}
	if n == 0 {
		return Set{}
	}
	return Set{w: w[:n:n]}
}

// bitmap builds a Set.
type bitmap []uint64

// set sets n bits from start; start+n must not exceed MaxBits.
func (b *bitmap) set(start, n int) {
	if n <= 0 {
		return
	}
	end := start + n // exclusive
	if need := (end + 63) / 64; need > len(*b) {
		*b = append(*b, make([]uint64, need-len(*b))...)
	}
	w := *b
	for start < end {
		i, off := start/64, start%64
		k := min(64-off, end-start)
		mask := ^uint64(0)
		if k < 64 {
			mask = (1<<k - 1) << off
		}
		w[i] |= mask
		start += k
	}
}

func (b bitmap) done() Set { return trim(b) }
