package registry

import (
	"errors"
	"strconv"
	"strings"
)

var errBadContentRange = errors.New("malformed Content-Range")

// parseContentRange parses the Content-Range of a PATCH chunk. The spec's
// form is "<start>-<end>" (inclusive); clients also send the RFC 9110 form
// "bytes <start>-<end>/<size|*>", which is accepted too.
func parseContentRange(s string) (start, end int64, err error) {
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "bytes"); ok {
		s = strings.TrimLeft(rest, " =")
		if i := strings.IndexByte(s, '/'); i >= 0 {
			s = s[:i]
		}
	}
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, errBadContentRange
	}
	start, err1 := parseNonNegative(a)
	end, err2 := parseNonNegative(b)
	if err1 != nil || err2 != nil || end < start {
		return 0, 0, errBadContentRange
	}
	return start, end, nil
}

// parseNonNegative accepts only plain decimal digits (no sign, no spaces),
// bounded to what fits an int64.
func parseNonNegative(s string) (int64, error) {
	if s == "" || len(s) > 18 {
		return 0, errBadContentRange
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errBadContentRange
		}
	}
	return strconv.ParseInt(s, 10, 64)
}
