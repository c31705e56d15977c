package harborapi

import (
	"bytes"
	"encoding/json"
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
	query        string // as sent (the go-client sorts the parameters)
	resourceName string // the X-Is-Resource-Name header, if sent
	body         string // a JSON body, re-encoded with sorted keys
	status       int    // 0: no answer
	answer       string // the start of the body of an error answer
}

// String is how harborcli_test.go writes a request down:
//
//	PUT /projects/p/members/3 [X-Is-Resource-Name: true] {"role_id":3}
func (c call) String() string {
	s := c.method + " " + c.path
	if c.query != "" {
		s += "?" + c.query
	}
	if c.resourceName != "" {
		s += " [X-Is-Resource-Name: " + c.resourceName + "]"
	}
	if c.body != "" {
		s += " " + c.body
	}
	return s
}

// canonicalJSON re-encodes a JSON document with sorted object keys, so
// that two encodings of the same value compare equal; what is not JSON is
// returned as it is.
func canonicalJSON(b []byte) string {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return string(b)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return string(b)
	}
	return string(out)
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
	c := call{method: req.Method, path: strings.TrimPrefix(req.URL.EscapedPath(), v2client.DefaultBasePath),
		query: req.URL.RawQuery, resourceName: req.Header.Get("X-Is-Resource-Name")}
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(io.LimitReader(req.Body, 1<<20)) // the API's bodies are small
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		c.body = canonicalJSON(b)
		req.Body = io.NopCloser(bytes.NewReader(b))
		req.ContentLength = int64(len(b))
	}
	resp, err := rec.next.RoundTrip(req)
	if err == nil {
		c.status = resp.StatusCode
		if resp.StatusCode >= 400 { // kept for describe: the go-client drops it for statuses Harbor does not list
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
			resp.Body = struct {
				io.Reader
				io.Closer
			}{io.MultiReader(bytes.NewReader(b), resp.Body), resp.Body}
			c.answer = string(b)
		}
	}
	calls.Lock()
	calls.list = append(calls.list, c)
	calls.Unlock()
	return resp, err
}

// refusals are the Harbor operations berth serves that can never succeed
// on berth, with the status that answers them: one answered so counts as
// called. setCliSecret needs OIDC authentication, which berth does not
// have (Harbor answers 412 under any other auth mode too).
var refusals = map[string]int{"setCliSecret": http.StatusPreconditionFailed}

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
		refusal := refusals[m.Berth.OperationID]
		if !slices.ContainsFunc(statuses, func(s int) bool { return s >= 200 && s < 300 || s == refusal }) {
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
