package ui

import (
	"net/http"
	"strings"

	"golang.org/x/text/language"
)

// langCookie remembers the language a user chose.
const langCookie = "berth_lang"

// langs are the UI's languages; the first is the default.
var langs = []language.Tag{language.English, language.SimplifiedChinese}

var matcher = language.NewMatcher(langs)

// langOf is the request's language: the cookie set by the switch, else
// the best match of Accept-Language.
func langOf(r *http.Request) string {
	if c, err := r.Cookie(langCookie); err == nil && (c.Value == "en" || c.Value == "zh-CN") {
		return c.Value
	}
	tags, _, _ := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	_, i, _ := matcher.Match(tags...)
	if i == 1 {
		return "zh-CN"
	}
	return "en"
}

// setLang: GET /lang/{code}?next= remembers the choice for a year and
// returns to the page.
func (s *Server) setLang(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	if code != "en" && code != "zh-CN" {
		http.NotFound(w, r)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: langCookie, Value: code, Path: "/", MaxAge: 365 * 24 * 3600,
		HttpOnly: true, SameSite: http.SameSiteLaxMode})
	p := &page{r: r}
	http.Redirect(w, r, p.safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
}

// T translates an English text into the page's language (the text itself
// when there is no translation, or for English).
func (p *page) T(key string) string {
	if p.Lang == "zh-CN" {
		if v, ok := zh[key]; ok {
			return v
		}
	}
	return key
}

// Tf is T with the first "%s" replaced by arg.
func (p *page) Tf(key string, arg any) string {
	return strings.Replace(p.T(key), "%s", funcs["str"].(func(any) string)(arg), 1)
}
