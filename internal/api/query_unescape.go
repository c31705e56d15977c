package api

import (
	"net/url"
	"strings"
)

// unescapeQ decodes q once more, as Harbor does (src/lib/q/builder.go
// url.QueryUnescape): harbor-cli relies on it and sends q pre-encoded,
// which the go-client encodes again ("Level%3Dproject%2CProjectID%3D5"
// for `project robot list`, "name=p%2Bbot" to find a project robot). A q
// that does not decode (a lone %) is read as it is. Unlike Harbor, a '+'
// stays a '+' (url.PathUnescape): Harbor turns it into a space, which is
// why harbor-cli writes %2B, and a robot's name holds a '+'.
func unescapeQ(q string) string {
	if !strings.Contains(q, "%") {
		return q
	}
	if u, err := url.PathUnescape(q); err == nil {
		return u
	}
	return q
}
