package registry

import (
	"strconv"
	"strings"
	"testing"
)

func TestParseContentRange(t *testing.T) {
	good := map[string][2]int64{
		"0-0": {0, 0}, "0-1023": {0, 1023}, "1024-2047": {1024, 2047},
		"bytes 10-19/*": {10, 19}, "bytes=5-9": {5, 9}, "bytes 0-9/10": {0, 9}, " 3-4 ": {3, 4},
	}
	for in, want := range good {
		s, e, err := parseContentRange(in)
		if err != nil || s != want[0] || e != want[1] {
			t.Errorf("parseContentRange(%q) = %d,%d,%v want %v", in, s, e, err, want)
		}
	}
	for _, in := range []string{"", "-", "5-", "-5", "9-5", "a-b", "+1-2", "1--2", "0x1-2", "1-2-3", "99999999999999999999-1",
		"1 -2", "bytes */10", "-1-2"} {
		if _, _, err := parseContentRange(in); err == nil {
			t.Errorf("parseContentRange(%q) accepted", in)
		}
	}
}

func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"0-0", "bytes 1-2/3", "bytes=1-2", "5-4", "-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		start, end, err := parseContentRange(s)
		if err != nil {
			return
		}
		if start < 0 || end < start {
			t.Fatalf("parseContentRange(%q) = %d-%d", s, start, end)
		}
		// The numbers must appear verbatim in the input.
		if !strings.Contains(s, strconv.FormatInt(start, 10)) || !strings.Contains(s, strconv.FormatInt(end, 10)) {
			t.Fatalf("parseContentRange(%q) invented %d-%d", s, start, end)
		}
	})
}
