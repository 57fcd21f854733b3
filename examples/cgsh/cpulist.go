package main

import (
	"errors"
	"strconv"
	"strings"
)

// Limits of the -cpus and -mems lists (the kernel's largest NR_CPUS and
// MAX_NUMNODES).
const (
	maxCPUs  = 8192
	maxNodes = 1024
)

var errList = errors.New("want a list of IDs such as 0-3,5")

// parseList parses a list of IDs in the kernel's plain list format ("0-3,5"),
// each below limit, and returns them ascending without repeats. The list
// must not be empty.
func parseList(s string, limit int) ([]int, error) {
	seen := make([]bool, limit)
	for item := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(item, "-")
		a, err := listID(lo, limit)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = listID(hi, limit); err != nil {
				return nil, err
			}
		}
		if b < a {
			return nil, errList
		}
		for i := a; i <= b; i++ {
			seen[i] = true
		}
	}
	var ids []int
	for i, ok := range seen {
		if ok {
			ids = append(ids, i)
		}
	}
	return ids, nil
}

func listID(s string, limit int) (int, error) {
	if !isDigits(s) {
		return 0, errList
	}
	v, err := strconv.Atoi(s)
	if err != nil || v >= limit {
		return 0, errors.New("ID out of range")
	}
	return v, nil
}
