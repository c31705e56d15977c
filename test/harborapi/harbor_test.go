// Package harborapi drives the real berth binary with Harbor's own Go
// client, github.com/goharbor/go-client (generated from Harbor's
// swagger.yaml; harbor-cli and Harbor's Terraform provider are built on
// it). Every operation berth serves that Harbor has must be called through
// it at least once with a 2xx answer, and every answer must decode into
// the client's models: a decode error is a shape bug in berth.
//
// One berth, with access control on, serves the whole test binary. Each
// area has its own file (projects_test.go, users_test.go, ...); a new
// operation gets its calls in the file of its area, and TestMain fails the
// binary while any served Harbor operation is never called (calls_test.go
// records every request the client sends, so the check cannot be fooled
// by a forgotten annotation). harborcli_test.go replays what harbor-cli's
// commands send.
package harborapi

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-openapi/runtime"
	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	"github.com/goharbor/go-client/pkg/harbor"
	v2client "github.com/goharbor/go-client/pkg/sdk/v2.0/client"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/test/berthproc"
	"github.com/berth-registry/berth/test/testenv"
)

// adminPassword is the administrator's, set through BERTH_ADMIN_PASSWORD
// at berth's first start (Harbor's default, to look familiar).
const adminPassword = "Harbor12345"

// requestTimeout bounds every request the tests send.
const requestTimeout = time.Minute

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	// A failed run still says what it did not call.
	if err := checkCoverage(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	shared.Cleanup()
	berthproc.Cleanup()
	os.Exit(code)
}

// berth is the shared server and its data directory.
type berth struct {
	*berthproc.Server
	dir string
}

func (b *berth) Stop() error {
	return errors.Join(b.Server.Stop(), os.RemoveAll(b.dir))
}

var shared = testenv.NewShared("berth", func() (*berth, error) {
	dir, err := os.MkdirTemp("", "berth-harborapi-")
	if err != nil {
		return nil, err
	}
	s, err := berthproc.Launch(dir, []string{"BERTH_ADMIN_PASSWORD=" + adminPassword}, "--auth=true")
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &berth{Server: s, dir: dir}, nil
})

// server is the berth of this test binary, started on first use.
func server(t testing.TB) *berth {
	t.Helper()
	b := shared.Get(t)
	if _, seen := explained.LoadOrStore(t, true); !seen {
		t.Cleanup(func() {
			explained.Delete(t)
			if t.Failed() { // what berth said went wrong, to explain the failure
				t.Logf("berth warnings and errors so far:\n%s", b.Problems())
			}
		})
	}
	return b
}

// explained holds the tests that will show berth's problems if they fail.
var explained sync.Map

// await polls cond every 100ms for up to 10s, for what berth does in the
// background (audit records are written in batches every 200ms); it
// fails t with cond's last word if cond never holds.
func await(t testing.TB, cond func() (ok bool, state string)) {
	t.Helper()
	var state string
	for range 100 {
		var ok bool
		if ok, state = cond(); ok {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("still, after 10s: %s", state)
}

// loopback is the transport of every client here: no proxy (berth is on
// 127.0.0.1), and each request bounded by requestTimeout.
var loopback http.RoundTripper = bounded{&http.Transport{Proxy: nil, MaxIdleConnsPerHost: 8, IdleConnTimeout: 30 * time.Second}}

type bounded struct{ next http.RoundTripper }

func (b bounded) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(req.Context(), requestTimeout)
	resp, err := b.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = cancelOnClose{resp.Body, cancel}
	return resp, nil
}

type cancelOnClose struct {
	body interface {
		Read([]byte) (int, error)
		Close() error
	}
	cancel context.CancelFunc
}

func (c cancelOnClose) Read(p []byte) (int, error) { return c.body.Read(p) }
func (c cancelOnClose) Close() error {
	defer c.cancel()
	return c.body.Close()
}

// harborClient is Harbor's v2 API client.
type harborClient = *v2client.HarborAPI

// client is Harbor's v2 client for berth, signed in as the administrator.
func client(t testing.TB) *v2client.HarborAPI {
	t.Helper()
	return clientAs(t, "admin", adminPassword)
}

// clientAs is Harbor's v2 client signed in with HTTP Basic as user. It is
// built the way harbor.NewClientSet builds one (harbor.Config.ToV2Config),
// with the recording transport of calls_test.go underneath.
func clientAs(t testing.TB, user, password string) *v2client.HarborAPI {
	t.Helper()
	u, err := url.Parse(server(t).URL + v2client.DefaultBasePath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := harbor.Config{URL: u, Transport: recorder{loopback}, AuthInfo: httptransport.BasicAuth(user, password)}
	return v2client.New(cfg.ToV2Config())
}

// ctx is the context of the calls of t.
func ctx(t testing.TB) context.Context { return t.Context() }

var uniqueN atomic.Int64

// unique returns a fresh lower-case name starting with prefix: projects,
// users and robots of one test do not collide with another's on the
// shared server.
func unique(prefix string) string {
	return fmt.Sprintf("%s-%d", strings.ToLower(prefix), uniqueN.Add(1))
}

// pushImage pushes a small random image to project/repo:tag on berth's
// /v2 as the administrator and returns its digest.
func pushImage(t testing.TB, repo, tag string) string {
	t.Helper()
	ref, err := name.ParseReference(server(t).Addr+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: "admin", Password: adminPassword}),
		remote.WithTransport(loopback), remote.WithContext(ctx(t))); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// must takes a go-client call's two results and returns a function that
// fails t if the call failed and otherwise returns the response:
//
//	p := must(c.Project.GetProject(ctx(t), params))(t).Payload
//
// (Go passes two results on only as a call's sole arguments, hence the
// second call.) A failure names the operation and status, or the decode
// error if berth's answer does not fit Harbor's model. A decoded payload
// must also pass its model's Validate (formats, enums, required fields).
func must[R any](resp R, err error) func(testing.TB) R {
	return func(t testing.TB) R {
		t.Helper()
		if err != nil {
			t.Fatal(describe(err))
		}
		if err := validatePayload(resp); err != nil {
			t.Fatalf("%T: the payload does not validate against Harbor's model: %v", resp, err)
		}
		return resp
	}
}

// validatePayload runs Validate on resp's Payload, or on each element of a
// list payload.
func validatePayload(resp any) error {
	type validator interface{ Validate(strfmt.Registry) error }
	v := reflect.ValueOf(resp)
	for v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil
	}
	p := v.FieldByName("Payload")
	if !p.IsValid() {
		return nil
	}
	items := []reflect.Value{p}
	if p.Kind() == reflect.Slice {
		items = items[:0]
		for i := range p.Len() {
			items = append(items, p.Index(i))
		}
	}
	for i, it := range items {
		if m, ok := it.Interface().(validator); ok && !(it.Kind() == reflect.Pointer && it.IsNil()) {
			if err := m.Validate(strfmt.Default); err != nil {
				return fmt.Errorf("item %d: %w", i, err)
			}
		}
	}
	return nil
}

// describe spells out a go-client error: its typed errors print as
// "[GET /x][404] getXNotFound &{Payload:0xc000...}", without Harbor's
// error message, so their Payload is rendered as JSON too; for a status
// Harbor's document does not list, the go-client says neither which
// request it was nor what berth answered, so the last request (the tests
// do not run in parallel) is shown.
func describe(err error) string {
	msg := err.Error()
	var api *runtime.APIError
	if errors.As(err, &api) {
		calls.Lock()
		if n := len(calls.list); n > 0 && calls.list[n-1].status == api.Code {
			last := calls.list[n-1]
			msg = fmt.Sprintf("%s %s%s: status %d, not in Harbor's document for it: %s", last.method, last.path,
				map[bool]string{true: "?" + last.query}[last.query != ""], last.status, strings.TrimSpace(last.answer))
		}
		calls.Unlock()
		return msg
	}
	v := reflect.ValueOf(err)
	for v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	if v.Kind() == reflect.Struct {
		if f := v.FieldByName("Payload"); f.IsValid() {
			if b, jerr := json.Marshal(f.Interface()); jerr == nil {
				msg += " payload=" + string(b)
			}
		}
	}
	return msg
}

// isStatus reports whether err is the go-client's error for an answer with
// status code: a typed error where Harbor's document lists the status, a
// runtime.APIError where it does not (getProject has no 404 there).
func isStatus(err error, code int) bool {
	var api *runtime.APIError
	if errors.As(err, &api) {
		return api.Code == code
	}
	c, ok := err.(interface{ IsCode(int) bool })
	return ok && c.IsCode(code)
}

// dump renders a response payload for a failure message.
func dump(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%+v", v)
	}
	return string(b)
}
