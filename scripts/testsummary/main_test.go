package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// stream is a go test -json run of three packages: a passes with one skip
// and a failing subtest, b crashes with a test still running, c does not
// build; plus a stray line that is not JSON.
const stream = `{"Action":"start","Package":"x/a"}
{"Action":"run","Package":"x/a","Test":"TestOK"}
{"Action":"output","Package":"x/a","Test":"TestOK","Output":"=== RUN   TestOK\n"}
{"Action":"output","Package":"x/a","Test":"TestOK","Output":"    a_test.go:5: chatter\n"}
{"Action":"output","Package":"x/a","Test":"TestOK","Output":"--- PASS: TestOK (0.00s)\n"}
{"Action":"pass","Package":"x/a","Test":"TestOK","Elapsed":0}
{"Action":"run","Package":"x/a","Test":"TestS3"}
{"Action":"output","Package":"x/a","Test":"TestS3","Output":"=== RUN   TestS3\n"}
{"Action":"output","Package":"x/a","Test":"TestS3","Output":"    testenv.go:25: versitygw not installed; run scripts/install-test-tools.sh\n"}
{"Action":"output","Package":"x/a","Test":"TestS3","Output":"--- SKIP: TestS3 (0.00s)\n"}
{"Action":"skip","Package":"x/a","Test":"TestS3","Elapsed":0}
{"Action":"run","Package":"x/a","Test":"TestSub"}
{"Action":"run","Package":"x/a","Test":"TestSub/bad"}
{"Action":"output","Package":"x/a","Test":"TestSub/bad","Output":"=== RUN   TestSub/bad\n"}
{"Action":"output","Package":"x/a","Test":"TestSub/bad","Output":"    a_test.go:9: sub failed\n"}
{"Action":"output","Package":"x/a","Test":"TestSub/bad","Output":"    --- FAIL: TestSub/bad (0.00s)\n"}
{"Action":"fail","Package":"x/a","Test":"TestSub/bad","Elapsed":0}
{"Action":"output","Package":"x/a","Test":"TestSub","Output":"--- FAIL: TestSub (0.00s)\n"}
{"Action":"fail","Package":"x/a","Test":"TestSub","Elapsed":0}
{"Action":"output","Package":"x/a","Output":"FAIL\n"}
{"Action":"output","Package":"x/a","Output":"FAIL\tx/a\t0.01s\n"}
{"Action":"fail","Package":"x/a","Elapsed":0.01}
{"Action":"start","Package":"x/b"}
{"Action":"run","Package":"x/b","Test":"TestRunning"}
{"Action":"output","Package":"x/b","Test":"TestRunning","Output":"=== RUN   TestRunning\n"}
{"Action":"output","Package":"x/b","Test":"TestRunning","Output":"panic: test timed out after 20m0s\n"}
{"Action":"output","Package":"x/b","Output":"FAIL\tx/b\t1200.0s\n"}
{"Action":"fail","Package":"x/b","Elapsed":1200}
{"ImportPath":"x/c [x/c.test]","Action":"build-output","Output":"# x/c [x/c.test]\n"}
{"ImportPath":"x/c [x/c.test]","Action":"build-output","Output":"c/c_test.go:5:28: undefined: nope\n"}
{"ImportPath":"x/c [x/c.test]","Action":"build-fail"}
{"Action":"start","Package":"x/c"}
{"Action":"output","Package":"x/c","Output":"FAIL\tx/c [build failed]\n"}
{"Action":"fail","Package":"x/c","Elapsed":0,"FailedBuild":"x/c [x/c.test]"}
{"Action":"start","Package":"x/d"}
{"Action":"output","Package":"x/d","Output":"PASS\n"}
{"Action":"output","Package":"x/d","Output":"ok  \tx/d\t0.01s\n"}
{"Action":"pass","Package":"x/d","Elapsed":0.01}
not json: a line go printed on stderr
`

func TestRenderAndReport(t *testing.T) {
	file := filepath.Join(t.TempDir(), "go-test.json")
	var out strings.Builder
	err := render(strings.NewReader(stream), &out, file)
	if !errors.Is(err, errFailed) {
		t.Fatalf("render: err = %v, want errFailed", err)
	}
	want := `    --- FAIL: TestSub/bad (0.00s)
    a_test.go:9: sub failed
--- FAIL: TestSub (0.00s)
FAIL
FAIL	x/a	0.01s
panic: test timed out after 20m0s
FAIL	x/b	1200.0s
# x/c [x/c.test]
c/c_test.go:5:28: undefined: nope
FAIL	x/c [build failed]
ok  	x/d	0.01s
not json: a line go printed on stderr
`
	if got := out.String(); got != want {
		t.Errorf("render printed:\n%s\nwant:\n%s", got, want)
	}
	if raw, _ := os.ReadFile(file); string(raw) != stream {
		t.Errorf("render kept %d bytes of the stream, want all %d", len(raw), len(stream))
	}

	out.Reset()
	err = report(&out, file, "make test", "3m2s", []string{"lint=ok (4s)", "fuzz=FAILED (1m)"})
	if !errors.Is(err, errFailed) {
		t.Fatalf("report: err = %v, want errFailed", err)
	}
	want = `skipped (1):
  x/a TestS3: versitygw not installed; run scripts/install-test-tools.sh
failed (3):
  x/a (2)
    TestSub/bad TestSub
  x/b TestRunning: did not finish (the test binary exited)
failed packages without a failed test (build error or crash) (1):
  x/c
make test: FAIL — 1 passed, 3 failed, 1 skipped (4 packages, 3 failed); lint ok (4s), fuzz FAILED (1m); 3m2s
`
	if got := out.String(); got != want {
		t.Errorf("report printed:\n%s\nwant:\n%s", got, want)
	}
}

func TestReportPass(t *testing.T) {
	var out strings.Builder
	if err := report(&out, "", "make lint", "", []string{"lint=ok (4s)"}); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "make lint: PASS — lint ok (4s)\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
