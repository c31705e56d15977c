package api

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/meta"
)

// Harbor's paging: page from 1 (0 is read as 1), page_size 10 by default
// and at most 100 — or 0, Harbor's "no paging" (src/lib/orm/query.go),
// which harbor-cli sends to list everything: that gets up to
// meta.MaxListSize items, with a Link to the next page past that.
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
		if err != nil || n < 0 {
			return p, errBadRequest(f.name + " must be a non-negative integer")
		}
		*f.dst = n
	}
	if p.Page == 0 {
		p.Page = 1
	}
	switch {
	case p.Size == 0:
		p.Size = meta.MaxListSize
	case p.Size > maxPageSize:
		return p, errBadRequest(fmt.Sprintf("page_size must be at most %d (or 0 for everything)", maxPageSize))
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
