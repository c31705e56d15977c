package api

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/meta"
)

// The tags of one artifact are listed from memory (they come with the
// artifact), so listTags applies Harbor's query language here. Keys: name
// (=, =~, {a b}), push_time and pull_time (=, [from~to]); sort by any of
// them.

// tagKeys reads a tag's value for each key.
var tagKeys = map[string]func(*tag) any{
	"name":      func(t *tag) any { return t.Name },
	"push_time": func(t *tag) any { return time.Time(t.PushTime) },
	"pull_time": func(t *tag) any { return time.Time(t.PullTime) },
}

// queryTags returns the tags that satisfy lq's conditions, in its order
// (name by default).
func queryTags(tags []tag, lq meta.ListQuery) ([]tag, error) {
	out := tags[:0:0]
	for i := range tags {
		ok, err := tagMatches(&tags[i], lq.Where)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, tags[i])
		}
	}
	for _, o := range lq.Sort {
		if tagKeys[o.Key] == nil {
			return nil, &meta.QueryError{Key: o.Key, Reason: "cannot sort by it (sortable: name, pull_time, push_time)"}
		}
	}
	slices.SortStableFunc(out, func(a, b tag) int {
		for _, o := range append(lq.Sort, meta.Order{Key: "name"}) {
			get := tagKeys[o.Key]
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

func tagMatches(t *tag, conds []meta.Cond) (bool, error) {
	for _, c := range conds {
		get := tagKeys[c.Key]
		if get == nil {
			return false, &meta.QueryError{Key: c.Key, Reason: "not supported here (supported: name, pull_time, push_time)"}
		}
		v := get(t)
		ok, err := condHolds(c, v)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
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
