package ui

import (
	"fmt"
	"html/template"
	"io/fs"
	"strings"
	"time"
)

// funcs are the helpers templates use.
var funcs = template.FuncMap{
	"when":        when,
	"num":         func(v any) string { return idOf(v) },
	"size":        func(v any) string { return humanSize(num(v)) },
	"short":       func(v any) string { return short(str(v)) },
	"repoURL":     func(v any) string { return repoURL(str(v)) },
	"artifactURL": func(full, d any) string { return artifactURL(str(full), str(d)) },
	"projectURL":  func(v any) string { return projectURL(str(v)) },
	"unix":        func(v any) string { return time.Unix(int64(num(v)), 0).UTC().Format("2006-01-02 15:04") },
	"str":         func(v any) string { return fmt.Sprint(v) },
	"isTrue":      isTrue,
	"score":       score,
	"positive":    func(v any) bool { return num(v) > 0 },
	"has":         func(l []string, s string) bool { return contains(l, s) },
	"scanOf":      scanOf,
	"lower":       strings.ToLower,
	"signed":      signed,
}

// score is a CVSS score as Harbor shows it (one decimal); "—" when
// there is none (the API's 0 or absent).
func score(v any) string {
	if f, ok := v.(float64); ok && f > 0 {
		return fmt.Sprintf("%.1f", f)
	}
	return "—"
}

// scanOf is an artifact's vulnerability scan overview: Harbor's
// scan_overview holds one per report MIME type; berth's scanner writes
// one, so the first is it (nil if never scanned).
func scanOf(v any) obj {
	m, _ := v.(obj)
	for _, o := range m {
		if o, ok := o.(obj); ok {
			return o
		}
	}
	return nil
}

// signed reports whether an artifact's accessories include a signature
// (Harbor's accessory types signature.cosign and signature.notation).
func signed(v any) bool {
	l, _ := v.([]any)
	for _, a := range l {
		if a, ok := a.(obj); ok && strings.HasPrefix(str(a["type"]), "signature.") {
			return true
		}
	}
	return false
}

func humanSize(b float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for b >= 1024 && i < len(units)-1 {
		b /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", b)
	}
	return fmt.Sprintf("%.1f %s", b, units[i])
}

// parsePages parses each page template with the layout: pages[name] for
// templates/name.html.
func parsePages() map[string]*template.Template {
	base := template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html"))
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" || name == "partials" {
			continue
		}
		pages[name] = template.Must(template.Must(base.Clone()).ParseFS(templateFS, n))
	}
	return pages
}
