package sqlstore

import (
	"fmt"
	"slices"
	"strings"

	"github.com/berth-registry/berth/internal/meta"
)

// valueKind is how a listing's key is typed in SQL.
type valueKind uint8

const (
	textValue valueKind = iota
	intValue
	boolValue // stored as 0/1
	timeValue // stored as Unix milliseconds
)

// column maps one key of a listing's query to SQL.
type column struct {
	expr string // the SQL expression compared
	kind valueKind
	// match, when set, builds the condition itself: keys with several
	// values per row (an artifact's tags, labels), where Equal means "has".
	// It returns the SQL condition and its arguments.
	match func(c meta.Cond) (string, []any, error)
	// noSort: the key filters but does not order.
	noSort bool
}

// listing is the keys one listing accepts.
type listing map[string]column

// where compiles q's conditions to SQL joined by AND (starting with the
// fixed ones), with their arguments; a key the listing does not have, an
// operator it cannot apply, or a bad value is a *meta.QueryError.
func (s *Store) where(l listing, q meta.ListQuery, fixed []string, args []any) (string, []any, error) {
	conds := append([]string(nil), fixed...)
	for _, c := range q.Where {
		col, ok := l[c.Key]
		if !ok {
			return "", nil, &meta.QueryError{Key: c.Key, Reason: "not supported here (supported: " + strings.Join(l.keys(), ", ") + ")"}
		}
		if col.match != nil {
			sql, a, err := col.match(c)
			if err != nil {
				return "", nil, err
			}
			conds, args = append(conds, sql), append(args, a...)
			continue
		}
		sql, a, err := s.compare(c, col)
		if err != nil {
			return "", nil, err
		}
		conds, args = append(conds, sql), append(args, a...)
	}
	if len(conds) == 0 {
		return "1 = 1", args, nil
	}
	return strings.Join(conds, " AND "), args, nil
}

// compare is the condition c on a single-valued column.
func (s *Store) compare(c meta.Cond, col column) (string, []any, error) {
	switch c.Op {
	case meta.Fuzzy:
		if col.kind != textValue {
			return "", nil, &meta.QueryError{Key: c.Key, Reason: "fuzzy match (=~) applies to text keys only"}
		}
		return s.b.d.likeFold(col.expr), []any{containsFold(c.Values[0])}, nil
	case meta.Range:
		var parts []string
		var args []any
		for i, op := range []string{">=", "<="} {
			if i >= len(c.Values) || strings.TrimSpace(c.Values[i]) == "" {
				continue
			}
			v, err := sqlValue(c.Key, col.kind, c.Values[i])
			if err != nil {
				return "", nil, err
			}
			parts, args = append(parts, col.expr+" "+op+" ?"), append(args, v)
		}
		if len(parts) == 0 {
			return "1 = 1", nil, nil
		}
		return strings.Join(parts, " AND "), args, nil
	case meta.AnyOf, meta.AllOf:
		if len(c.Values) == 0 {
			return "1 = 0", nil, nil
		}
		var args []any
		for _, raw := range c.Values {
			v, err := sqlValue(c.Key, col.kind, raw)
			if err != nil {
				return "", nil, err
			}
			args = append(args, v)
		}
		if c.Op == meta.AllOf { // one value per row: all equal only if the values are
			return strings.TrimSuffix(strings.Repeat(col.expr+" = ? AND ", len(args)), " AND "), args, nil
		}
		return col.expr + " IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(args)), ", ") + ")", args, nil
	default:
		v, err := sqlValue(c.Key, col.kind, c.Values[0])
		if err != nil {
			return "", nil, err
		}
		return col.expr + " = ?", []any{v}, nil
	}
}

// sqlValue converts a query value to the column's stored form.
func sqlValue(key string, kind valueKind, v string) (any, error) {
	switch kind {
	case intValue:
		return meta.ParseInt(key, v)
	case boolValue:
		b, err := meta.ParseBool(key, v)
		return b2i(b), err
	case timeValue:
		t, err := meta.ParseTime(key, v)
		return t.UnixMilli(), err
	}
	return v, nil
}

// orderBy is the ORDER BY list for q's sort keys, then def (the listing's
// default order, which must end in a unique column so pages are stable).
func (l listing) orderBy(q meta.ListQuery, def string) (string, error) {
	var parts []string
	for _, o := range q.Sort {
		col, ok := l[o.Key]
		if !ok || col.noSort || col.match != nil {
			return "", &meta.QueryError{Key: o.Key, Sort: true, Reason: "cannot sort by it (sortable: " + strings.Join(l.sortable(), ", ") + ")"}
		}
		dir := " ASC"
		if o.Desc {
			dir = " DESC"
		}
		parts = append(parts, col.expr+dir)
	}
	return strings.Join(append(parts, def), ", "), nil
}

func (l listing) keys() []string {
	var out []string
	for k := range l {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (l listing) sortable() []string {
	var out []string
	for k, c := range l {
		if !c.noSort && c.match == nil {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// errOp is the error for an operator a custom key does not apply.
func errOp(c meta.Cond, what string) error {
	return &meta.QueryError{Key: c.Key, Reason: fmt.Sprintf("supports %s only", what)}
}
