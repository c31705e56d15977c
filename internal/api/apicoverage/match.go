package apicoverage

import "strings"

// Find returns the operation of ops that serves a request with method and
// path, the path relative to /api/v2.0 and still escaped (so that an
// encoded slash, as in Harbor's a%252Fb repository names, stays inside its
// segment). Where several path templates match (/users/current and
// /users/{user_id}) the one with more literal segments wins, as in
// net/http's ServeMux.
func Find(ops []Op, method, escapedPath string) (Op, bool) {
	segs := strings.Split(strings.Trim(escapedPath, "/"), "/")
	best, bestLiterals := Op{}, -1
	for _, o := range ops {
		if o.Method != method || o.Outside {
			continue
		}
		tpl := strings.Split(strings.Trim(o.Path, "/"), "/")
		if len(tpl) != len(segs) {
			continue
		}
		literals, ok := 0, true
		for i, t := range tpl {
			switch {
			case strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}"):
				ok = ok && segs[i] != ""
			case t == segs[i]:
				literals++
			default:
				ok = false
			}
		}
		if ok && literals > bestLiterals {
			best, bestLiterals = o, literals
		}
	}
	return best, bestLiterals >= 0
}
