package api

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/meta"
)

// Some lists are made in memory (the tags of one artifact come with the
// artifact; the scanners are the built-in one): queryMemory applies
// Harbor's query language to them, as the store does to its tables. Each
// list names its keys, and a value of a key is a string or a time: =, =~
// (strings), [from~to], {a b} and (a b) work on both, and sort on any key.

// memKeys reads, for each key a list accepts, its value from an item.
type memKeys[T any] map[string]func(*T) any

// names lists the keys, sorted, for error messages.
func (k memKeys[T]) names() string {
	var out []string
	for name := range k {
		out = append(out, name)
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// queryMemory returns the items that satisfy lq's conditions, in lq's
// order, then by the key by (which keys must have).
func queryMemory[T any](items []T, keys memKeys[T], by string, lq meta.ListQuery) ([]T, error) {
	for _, c := range lq.Where {
		if keys[c.Key] == nil {
			return nil, &meta.QueryError{Key: c.Key, Reason: "not supported here (supported: " + keys.names() + ")"}
		}
	}
	for _, o := range lq.Sort {
		if keys[o.Key] == nil {
			return nil, &meta.QueryError{Key: o.Key, Sort: true, Reason: "cannot sort by it (sortable: " + keys.names() + ")"}
		}
	}
	out := items[:0:0]
	for i := range items {
		ok, err := memMatches(&items[i], keys, lq.Where)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, items[i])
		}
	}
	order := append(slices.Clip(lq.Sort), meta.Order{Key: by})
	slices.SortStableFunc(out, func(a, b T) int {
		for _, o := range order {
			get := keys[o.Key]
			c := compareValues(get(&a), get(&b))
			if o.Desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
	return out, nil
}

func memMatches[T any](item *T, keys memKeys[T], conds []meta.Cond) (bool, error) {
	for _, c := range conds {
		ok, err := condHolds(c, keys[c.Key](item))
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// tagKeys: the tags of an artifact (listTags), by name by default.
var tagKeys = memKeys[tag]{
	"name":      func(t *tag) any { return t.Name },
	"push_time": func(t *tag) any { return time.Time(t.PushTime) },
	"pull_time": func(t *tag) any { return time.Time(t.PullTime) },
}

// scannerKeys: the scanner registrations (listScanners and
// listScannerCandidatesOfProject), by name by default. Booleans are
// compared as "true" and "false".
var scannerKeys = memKeys[scannerRegistration]{
	"uuid":        func(s *scannerRegistration) any { return s.UUID },
	"name":        func(s *scannerRegistration) any { return s.Name },
	"description": func(s *scannerRegistration) any { return s.Description },
	"url":         func(s *scannerRegistration) any { return s.URL },
	"disabled":    func(s *scannerRegistration) any { return strconv.FormatBool(s.Disabled) },
	"is_default":  func(s *scannerRegistration) any { return strconv.FormatBool(s.IsDefault) },
	"create_time": func(s *scannerRegistration) any { return time.Time(s.CreateTime) },
	"update_time": func(s *scannerRegistration) any { return time.Time(s.UpdateTime) },
}

// condHolds reports whether value v (a string or a time) satisfies c.
func condHolds(c meta.Cond, v any) (bool, error) {
	parse := func(s string) (any, error) {
		if _, isTime := v.(time.Time); isTime {
			return meta.ParseTime(c.Key, s)
		}
		return s, nil
	}
	switch c.Op {
	case meta.Fuzzy:
		s, isText := v.(string)
		if !isText {
			return false, &meta.QueryError{Key: c.Key, Reason: "fuzzy match (=~) applies to text keys only"}
		}
		return strings.Contains(strings.ToLower(s), strings.ToLower(c.Values[0])), nil
	case meta.Range:
		for i, sign := range []int{-1, 1} { // v must not be below from nor above to
			if i >= len(c.Values) || strings.TrimSpace(c.Values[i]) == "" {
				continue
			}
			bound, err := parse(c.Values[i])
			if err != nil {
				return false, err
			}
			if compareValues(v, bound) == sign {
				return false, nil
			}
		}
		return true, nil
	case meta.AnyOf, meta.AllOf:
		hits := 0
		for _, s := range c.Values {
			want, err := parse(s)
			if err != nil {
				return false, err
			}
			if compareValues(v, want) == 0 {
				hits++
			}
		}
		if c.Op == meta.AllOf {
			return len(c.Values) > 0 && hits == len(c.Values), nil
		}
		return hits > 0, nil
	default:
		want, err := parse(c.Values[0])
		if err != nil {
			return false, err
		}
		return compareValues(v, want) == 0, nil
	}
}

func compareValues(a, b any) int {
	switch a := a.(type) {
	case string:
		return cmp.Compare(a, b.(string))
	case time.Time:
		return a.Compare(b.(time.Time))
	}
	return 0
}
