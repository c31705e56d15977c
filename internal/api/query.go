package api

import (
	"net/http"
	"strings"

	"github.com/berth-registry/berth/internal/meta"
)

// Harbor's list query language, read from the q and sort parameters of
// every list (src/lib/q in Harbor):
//
//	q=k=v           exact
//	q=k=~v          fuzzy (contains)
//	q=k=[min~max]   range, inclusive; a bound may be empty
//	q=k={v1 v2}     any of the values (union)
//	q=k=(v1 v2)     all of the values (intersection)
//	q=k1=v1,k2=~v2  every term holds
//	sort=k1,-k2     ascending by k1, then descending by k2
//
// Values may be quoted with " or '. Which keys a list accepts is the
// store's (meta.QueryError names the key it refuses): unlike Harbor, an
// unknown key is an error, never silently ignored.

// maxQueryTerms bounds the work a q can ask for.
const maxQueryTerms = 32

// listQuery reads q, sort, page and page_size.
func listQuery(r *http.Request) (meta.ListQuery, error) {
	var lq meta.ListQuery
	var err error
	if lq.Page, err = pageOf(r); err != nil {
		return lq, err
	}
	if lq.Where, err = parseQuery(unescapeQ(r.URL.Query().Get("q"))); err != nil {
		return lq, err
	}
	lq.Sort, err = parseSort(r.URL.Query().Get("sort"))
	return lq, err
}

// parseQuery parses Harbor's q.
func parseQuery(q string) ([]meta.Cond, error) {
	q = strings.TrimSpace(q)
	if q == "" {
		return nil, nil
	}
	terms := splitTerms(q)
	if len(terms) > maxQueryTerms {
		return nil, errBadRequest("q: too many terms")
	}
	var out []meta.Cond
	for _, term := range terms {
		k, v, found := strings.Cut(term, "=")
		k = strings.TrimSpace(k)
		if !found || k == "" {
			return nil, errBadRequest("q: " + term + ": want key=value")
		}
		c, err := parseTerm(k, strings.TrimSpace(v))
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// splitTerms splits q at commas outside quotes and brackets.
func splitTerms(q string) []string {
	var out []string
	depth, start := 0, 0
	var quote byte
	for i := 0; i < len(q); i++ {
		switch c := q[i]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '[' || c == '{' || c == '(':
			depth++
		case c == ']' || c == '}' || c == ')':
			depth--
		case c == ',' && depth <= 0:
			out = append(out, q[start:i])
			start = i + 1
		}
	}
	return append(out, q[start:])
}

func parseTerm(k, v string) (meta.Cond, error) {
	bad := func(why string) error { return errBadRequest("q: " + k + "=" + v + ": " + why) }
	switch {
	case strings.HasPrefix(v, "~"):
		return meta.Cond{Key: k, Op: meta.Fuzzy, Values: []string{unquote(v[1:])}}, nil
	case strings.HasPrefix(v, "["):
		if !strings.HasSuffix(v, "]") {
			return meta.Cond{}, bad("a range is [min~max]")
		}
		from, to, found := cutRange(v[1 : len(v)-1])
		if !found {
			return meta.Cond{}, bad("a range is [min~max]")
		}
		return meta.Cond{Key: k, Op: meta.Range, Values: []string{unquote(from), unquote(to)}}, nil
	case strings.HasPrefix(v, "{"), strings.HasPrefix(v, "("):
		op, closing := meta.AnyOf, "}"
		if v[0] == '(' {
			op, closing = meta.AllOf, ")"
		}
		if !strings.HasSuffix(v, closing) {
			return meta.Cond{}, bad("a list is {v1 v2} or (v1 v2)")
		}
		vals := fieldsQuoted(v[1 : len(v)-1])
		if len(vals) > maxQueryTerms {
			return meta.Cond{}, bad("too many values")
		}
		return meta.Cond{Key: k, Op: op, Values: vals}, nil
	}
	return meta.Cond{Key: k, Op: meta.Equal, Values: []string{unquote(v)}}, nil
}

// cutRange splits "min~max" at the ~ outside quotes.
func cutRange(s string) (from, to string, found bool) {
	var quote byte
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '~':
			return s[:i], s[i+1:], true
		}
	}
	return "", "", false
}

// fieldsQuoted splits at spaces outside quotes and unquotes each value.
func fieldsQuoted(s string) []string {
	var out []string
	var quote byte
	start := -1
	for i := 0; i <= len(s); i++ {
		var c byte = ' '
		if i < len(s) {
			c = s[i]
		}
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
			if start < 0 {
				start = i
			}
		case c == ' ' || c == '\t':
			if start >= 0 {
				out = append(out, unquote(s[start:i]))
				start = -1
			}
		default:
			if start < 0 {
				start = i
			}
		}
	}
	return out
}

func unquote(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

// parseSort parses Harbor's sort: "k1,-k2".
func parseSort(s string) ([]meta.Order, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []meta.Order
	for _, k := range strings.Split(s, ",") {
		k = strings.TrimSpace(k)
		o := meta.Order{Key: strings.TrimPrefix(k, "-"), Desc: strings.HasPrefix(k, "-")}
		if o.Key == "" {
			return nil, errBadRequest("sort: empty key in " + s)
		}
		out = append(out, o)
	}
	if len(out) > maxQueryTerms {
		return nil, errBadRequest("sort: too many keys")
	}
	return out, nil
}

// namedListQuery is listQuery with Harbor's deprecated name= parameter
// (a fuzzy match on the name) of the registry and replication policy
// listings.
func namedListQuery(r *http.Request) (meta.ListQuery, error) {
	q, err := listQuery(r)
	if n := r.URL.Query().Get("name"); err == nil && n != "" {
		q = q.With(meta.Cond{Key: "name", Op: meta.Fuzzy, Values: []string{n}})
	}
	return q, err
}
