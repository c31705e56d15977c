package harborapi

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	v2client "github.com/goharbor/go-client/pkg/sdk/v2.0/client"

	"github.com/berth-registry/berth/internal/api"
	"github.com/berth-registry/berth/internal/api/apicoverage"
)

// call is one request the go-client sent and berth's answer.
type call struct {
	method, path string // path relative to /api/v2.0, still escaped
	status       int    // 0: no answer
}

// calls is every request of every client of clientAs, in order.
var calls struct {
	sync.Mutex
	list []call
}

// recorder is the go-client's transport: it notes each request, so the
// coverage check sees what was really sent, whichever test sent it.
type recorder struct{ next http.RoundTripper }

func (rec recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := rec.next.RoundTrip(req)
	c := call{method: req.Method, path: strings.TrimPrefix(req.URL.EscapedPath(), v2client.DefaultBasePath)}
	if err == nil {
		c.status = resp.StatusCode
	}
	calls.Lock()
	calls.list = append(calls.list, c)
	calls.Unlock()
	return resp, err
}

// checkCoverage fails when an operation that berth serves and Harbor
// defines was never answered with a 2xx through the go-client. It also
// lists, for information, the calls (harbor-cli's) to Harbor operations
// berth does not serve yet. A run narrowed with -run or -skip checks
// nothing: it cannot have called everything.
func checkCoverage(w io.Writer) error {
	for _, f := range []string{"test.run", "test.skip"} {
		if fl := flag.Lookup(f); fl != nil && fl.Value.String() != "" {
			fmt.Fprintf(w, "harborapi: operation coverage not checked (-%s narrows the run)\n", strings.TrimPrefix(f, "test."))
			return nil
		}
	}
	c, err := apicoverage.Load(filepath.Join("..", "..", apicoverage.SwaggerFile), api.OpenAPIDocument())
	if err != nil {
		return err
	}
	calls.Lock()
	list := slices.Clone(calls.list)
	calls.Unlock()

	answered := map[string][]int{}   // berth operationId → statuses
	notServed := map[string]string{} // Harbor operationId → "METHOD template"
	var unknown []string
	for _, cl := range list {
		if op, ok := apicoverage.Find(c.Berth, cl.method, cl.path); ok {
			answered[op.OperationID] = append(answered[op.OperationID], cl.status)
		} else if op, ok := apicoverage.Find(c.Harbor, cl.method, cl.path); ok {
			notServed[op.OperationID] = op.Method + " " + op.Path
		} else {
			unknown = append(unknown, cl.method+" "+cl.path)
		}
	}
	var missing []string
	served := 0
	for _, m := range c.Matches {
		if m.Berth == nil {
			continue
		}
		served++
		statuses := answered[m.Berth.OperationID]
		if !slices.ContainsFunc(statuses, func(s int) bool { return s >= 200 && s < 300 }) {
			why := "never called"
			if len(statuses) > 0 {
				why = fmt.Sprintf("called, never answered 2xx (statuses %v)", statuses)
			}
			missing = append(missing, fmt.Sprintf("  %s (%s %s): %s", m.Berth.OperationID, m.Berth.Method, m.Berth.Path, why))
		}
	}
	fmt.Fprintf(w, "harborapi: %d of the %d Harbor operations berth serves were called through the go-client with a 2xx answer (%d requests)\n",
		served-len(missing), served, len(list))
	if len(notServed) > 0 {
		var ids []string
		for id, route := range notServed {
			ids = append(ids, fmt.Sprintf("  %s (%s)", id, route))
		}
		slices.Sort(ids)
		fmt.Fprintf(w, "harborapi: called, but berth does not serve them yet:\n%s\n", strings.Join(ids, "\n"))
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		fmt.Fprintf(w, "harborapi: requests that are no Harbor operation:\n  %s\n", strings.Join(slices.Compact(unknown), "\n  "))
	}
	if len(missing) > 0 {
		return fmt.Errorf("harborapi: FAIL: berth serves these Harbor operations, but no go-client test called them successfully;\n"+
			"add calls in the file of their area (projects_test.go, users_test.go, ...):\n%s", strings.Join(missing, "\n"))
	}
	return nil
}
