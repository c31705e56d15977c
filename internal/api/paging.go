package api

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/meta"
)

// Harbor's paging: page from 1, page_size 10 by default and at most 100.
const (
	defaultPageSize = 10
	maxPageSize     = 100
)

// pageOf reads page and page_size.
func pageOf(r *http.Request) (meta.Page, error) {
	p := meta.Page{Page: 1, Size: defaultPageSize}
	for _, f := range []struct {
		name string
		dst  *int
	}{{"page", &p.Page}, {"page_size", &p.Size}} {
		v := r.URL.Query().Get(f.name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return p, errBadRequest(f.name + " must be a positive integer")
		}
		*f.dst = n
	}
	if p.Size > maxPageSize {
		return p, errBadRequest(fmt.Sprintf("page_size must be at most %d", maxPageSize))
	}
	return p, nil
}

// setPaging sets X-Total-Count and, where there are other pages, a Link
// header with rel="prev" and rel="next" in Harbor's format.
func setPaging(w http.ResponseWriter, r *http.Request, p meta.Page, total int64) {
	w.Header().Set("X-Total-Count", strconv.FormatInt(total, 10))
	var links []string
	link := func(page int, rel string) {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(page))
		q.Set("page_size", strconv.Itoa(p.Size))
		links = append(links, fmt.Sprintf(`<%s?%s>; rel="%s"`, r.URL.Path, q.Encode(), rel))
	}
	if p.Page > 1 {
		link(p.Page-1, "prev")
	}
	if int64(p.Page)*int64(p.Size) < total {
		link(p.Page+1, "next")
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, " , "))
	}
}

// writeList answers a page of items converted by conv, with the paging
// headers.
func writeList[T, U any](w http.ResponseWriter, r *http.Request, p meta.Page, total int64, items []T, conv func(*T) U) error {
	out := make([]U, 0, len(items))
	for i := range items {
		out = append(out, conv(&items[i]))
	}
	setPaging(w, r, p, total)
	return writeJSON(w, http.StatusOK, out)
}

// pageSlice returns the page of a listing held in memory.
func pageSlice[T any](all []T, p meta.Page) []T {
	start := min((p.Page-1)*p.Size, len(all))
	return all[start:min(start+p.Size, len(all))]
}

// term is one condition of Harbor's q parameter.
type term struct {
	value    string // exact (k=v) or fuzzy (k=~v) match
	fuzzy    bool
	from, to string // range k=[from~to]
}

// parseQ parses Harbor's q syntax "k1=v1,k2=~v2,k3=[min~max]" for the keys
// allowed. Lists ({a b}, (a b)) are not supported.
func parseQ(r *http.Request, allowed ...string) (map[string]term, error) {
	q := r.URL.Query().Get("q")
	out := map[string]term{}
	if q == "" {
		return out, nil
	}
	if u, err := url.QueryUnescape(q); err == nil {
		q = u
	}
	for _, part := range strings.Split(q, ",") {
		k, v, found := strings.Cut(part, "=")
		k = strings.TrimSpace(k)
		if !found || k == "" {
			return nil, errBadRequest("invalid q: " + part)
		}
		if !slices.Contains(allowed, k) {
			return nil, errBadRequest(fmt.Sprintf("q: unsupported key %q (supported: %s)", k, strings.Join(allowed, ", ")))
		}
		var t term
		switch {
		case strings.HasPrefix(v, "~"):
			t = term{value: unquote(v[1:]), fuzzy: true}
		case strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]"):
			from, to, _ := strings.Cut(v[1:len(v)-1], "~")
			t = term{from: unquote(from), to: unquote(to)}
		case strings.HasPrefix(v, "{") || strings.HasPrefix(v, "("):
			return nil, errBadRequest("q: lists are not supported: " + part)
		default:
			t = term{value: unquote(v)}
		}
		out[k] = t
	}
	return out, nil
}

func unquote(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

// harborTime is how Harbor formats times ("2006-01-02T15:04:05.000Z").
type harborTime time.Time

func (t harborTime) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(t).UTC().Format("2006-01-02T15:04:05.000Z") + `"`), nil
}

// UnmarshalJSON reads the format back (for clients and tests).
func (t *harborTime) UnmarshalJSON(b []byte) error {
	v, err := time.Parse(`"2006-01-02T15:04:05.000Z"`, string(b))
	*t = harborTime(v)
	return err
}

// parseTime accepts Harbor's q time format and RFC 3339.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{"2006-01-02 15:04:05", time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errBadRequest("invalid time " + s + `: want "2006-01-02 15:04:05"`)
}
