package meta

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Op is how a condition of a listing compares a key with its values,
// after Harbor's query language (the q parameter of every list).
type Op uint8

const (
	// Equal: k=v.
	Equal Op = iota
	// Fuzzy: k=~v, the value contains v (ASCII case folded).
	Fuzzy
	// Range: k=[from~to], inclusive; an empty bound is open.
	Range
	// AnyOf: k={v1 v2}, equal to one of the values (union).
	AnyOf
	// AllOf: k=(v1 v2), equal to every value: for keys with several values
	// (an artifact's tags or labels) it means "has all of them".
	AllOf
)

// Cond is one condition; a listing's conditions all hold (AND).
type Cond struct {
	Key    string
	Op     Op
	Values []string // one for Equal and Fuzzy; [from, to] for Range
}

// Order is one sort key.
type Order struct {
	Key  string
	Desc bool
}

// MaxListSize bounds a page, including Harbor's "page_size=0" (everything):
// every list a store answers is bounded.
const MaxListSize = 10000

// ListQuery selects, orders and pages a listing. Keys are the names the
// management API exposes (Harbor's); each listing documents its own and
// answers *QueryError for any other.
type ListQuery struct {
	Where []Cond
	Sort  []Order
	Page
}

// With returns q with c added.
func (q ListQuery) With(c ...Cond) ListQuery {
	q.Where = append(append([]Cond(nil), q.Where...), c...)
	return q
}

// Value returns the value of an Equal condition on key ("" if none).
func (q ListQuery) Value(key string) string {
	for _, c := range q.Where {
		if c.Key == key && c.Op == Equal && len(c.Values) == 1 {
			return c.Values[0]
		}
	}
	return ""
}

// QueryError says a listing cannot answer a query: an unknown key, an
// operator the key does not support, or a malformed value. The API
// answers it with 400 naming the key, and the parameter: q, or sort
// when Sort is set.
type QueryError struct {
	Key    string
	Reason string
	Sort   bool // the key is one of sort's, not q's
}

func (e *QueryError) Error() string {
	return fmt.Sprintf("query key %q: %s", e.Key, e.Reason)
}

// ParseBool reads a query value as a boolean (true/false, 1/0).
func ParseBool(key, v string) (bool, error) {
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		return false, &QueryError{Key: key, Reason: fmt.Sprintf("%q is not true or false", v)}
	}
	return b, nil
}

// ParseInt reads a query value as an integer.
func ParseInt(key, v string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, &QueryError{Key: key, Reason: fmt.Sprintf("%q is not an integer", v)}
	}
	return n, nil
}

// ParseTime reads a query value as a time: Harbor's "2006-01-02 15:04:05"
// (UTC), RFC 3339, or a date.
func ParseTime(key, v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	for _, layout := range []string{"2006-01-02 15:04:05", time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, &QueryError{Key: key, Reason: fmt.Sprintf(`%q is not a time (want "2006-01-02 15:04:05")`, v)}
}
