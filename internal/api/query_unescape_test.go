package api

import (
	"net/url"
	"strconv"
	"testing"
)

func TestUnescapeQ(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"name=~app", "name=~app"},
		{"Level%3Dproject%2CProjectID%3D5", "Level=project,ProjectID=5"},
		{"Level%3Dproject%2CProjectID%3D5%2Cname=p%2Bbot", "Level=project,ProjectID=5,name=p+bot"},
		{"name=robot$p+bot", "name=robot$p+bot"},
		{"name=~50%", "name=~50%"},       // does not decode: as it is
		{"name=~%zz", "name=~%zz"},       // nor this
		{"name=~a%2520b", "name=~a%20b"}, // decoded once only
	} {
		if got := unescapeQ(c.in); got != c.want {
			t.Errorf("unescapeQ(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestHarborCLIRobotQueries: harbor-cli's pre-encoded q lists a project's robots and
// finds one by its name without the robot$ prefix.
func TestHarborCLIRobotQueries(t *testing.T) {
	e := newEnv(t)
	p := e.project("ci", false, nil)
	e.robot(e.admin, "ci", "bot", [][2]string{{"repository", "pull"}})
	q := "Level%3Dproject%2CProjectID%3D" + strconv.FormatInt(p.ID, 10)
	list := decode[[]robot](t, e.expect(200, e.admin, "GET", Prefix+"/robots?page=0&page_size=0&q="+url.QueryEscape(q), nil))
	if len(list) != 1 || list[0].Name != "robot$ci+bot" {
		t.Fatalf("robots for q=%s: %+v", q, list)
	}
	// harbor-cli's GetRobotByName: Harbor's names lack the robot$ prefix.
	for _, name := range []string{"ci%2Bbot", "robot$ci%2Bbot", "{ci%2Bbot other}"} {
		byName := decode[[]robot](t, e.expect(200, e.admin, "GET", Prefix+"/robots?q="+url.QueryEscape(q+"%2Cname="+name), nil))
		if len(byName) != 1 || byName[0].Name != "robot$ci+bot" {
			t.Errorf("robot by name=%s: %+v", name, byName)
		}
	}
	if none := decode[[]robot](t, e.expect(200, e.admin, "GET", Prefix+"/robots?q="+url.QueryEscape(q+"%2Cname=bot"), nil)); len(none) != 0 {
		t.Errorf("name=bot matched %+v", none)
	}
}
