// Command testsummary renders `go test -json` as the usual `go test` lines
// and ends a test run with one summary line. Used by scripts/test.sh
// (`make test`):
//
//	go test -json ./... 2>&1 | testsummary render -json results/test/go-test.json
//	testsummary report -json results/test/go-test.json -step lint=ok -step fuzz=FAILED
//
// render streams what plain `go test` prints (one ok/FAIL line per package,
// and the output of failed tests), keeps the raw events in the -json file
// and exits 1 if anything failed. report reads that file and prints the
// skipped and failed tests by name, then one line with the counts and the
// result of each step; it exits 1 if a test or a step failed.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: testsummary render|report [-json FILE] [-step NAME=RESULT ...]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("testsummary "+os.Args[1], flag.ExitOnError)
	file := fs.String("json", "", "file of go test -json events (render writes it, report reads it)")
	title := fs.String("title", "test", "what the summary line is about, e.g. \"make test\"")
	elapsed := fs.String("elapsed", "", "wall time of the whole run, printed at the end of the summary line")
	var steps stepList
	fs.Var(&steps, "step", "NAME=RESULT of a step that is not go test, e.g. lint=ok (repeatable; a result not starting with ok is a failure)")
	_ = fs.Parse(os.Args[2:])
	var err error
	switch os.Args[1] {
	case "render":
		err = render(os.Stdin, os.Stdout, *file)
	case "report":
		err = report(os.Stdout, *file, *title, *elapsed, steps)
	default:
		err = fmt.Errorf("unknown mode %q (render or report)", os.Args[1])
	}
	if err != nil {
		if !errors.Is(err, errFailed) {
			fmt.Fprintln(os.Stderr, "testsummary:", err)
		}
		os.Exit(1)
	}
}

var errFailed = errors.New("tests failed")

type stepList []string

func (s *stepList) String() string { return strings.Join(*s, " ") }
func (s *stepList) Set(v string) error {
	if !strings.Contains(v, "=") {
		return errors.New("want NAME=RESULT")
	}
	*s = append(*s, v)
	return nil
}

// event is one line of `go test -json` (cmd/test2json's TestEvent, plus the
// build events of go 1.24+).
type event struct {
	Action      string
	Package     string
	Test        string
	Output      string
	FailedBuild string
	ImportPath  string
}

type key struct{ pkg, test string }

// results accumulates the events of one run.
type results struct {
	out      map[key]*strings.Builder // output of tests still running
	final    map[key]string           // pass, fail or skip per test
	reason   map[key]string           // why a test was skipped
	order    []key                    // tests in the order they finished
	pkgFail  []string                 // packages that failed (tests, build or crash)
	pkgCount int                      // packages whose tests ran
}

func newResults() *results {
	return &results{out: map[key]*strings.Builder{}, final: map[key]string{}, reason: map[key]string{}}
}

// add records e and returns what plain `go test` would print for it.
func (r *results) add(e event) string {
	k := key{e.Package, e.Test}
	switch {
	case e.Action == "build-output":
		return e.Output
	case e.Test == "" && e.Action == "output":
		if e.Output == "PASS\n" {
			return ""
		}
		if strings.HasPrefix(e.Output, "FAIL") {
			return r.unfinished(e.Package) + e.Output
		}
		return e.Output
	case e.Test == "" && (e.Action == "pass" || e.Action == "fail"):
		r.pkgCount++
		if e.Action == "pass" {
			return ""
		}
		r.pkgFail = append(r.pkgFail, e.Package)
		return r.unfinished(e.Package)
	case e.Test == "":
		return ""
	case e.Action == "output":
		b := r.out[k]
		if b == nil {
			b = new(strings.Builder)
			r.out[k] = b
		}
		b.WriteString(e.Output)
	case e.Action == "pass" || e.Action == "skip" || e.Action == "fail":
		text := ""
		if b := r.out[k]; b != nil {
			text = b.String()
		}
		if e.Action == "skip" {
			r.reason[k] = skipReason(text)
		}
		r.finish(k, e.Action)
		if e.Action == "fail" {
			return quiet(text)
		}
	}
	return ""
}

// unfinished fails the tests of pkg still running when its test binary
// died (panic, timeout, os.Exit): they never report, and their output says
// what happened. It returns that output.
func (r *results) unfinished(pkg string) string {
	var running []key
	for k := range r.out {
		if k.pkg == pkg {
			running = append(running, k)
		}
	}
	slices.SortFunc(running, func(a, b key) int { return strings.Compare(a.test, b.test) })
	var s strings.Builder
	for _, k := range running {
		s.WriteString(quiet(r.out[k].String()))
		r.finish(k, "fail")
		r.reason[k] = "did not finish (the test binary exited)"
	}
	return s.String()
}

func (r *results) finish(k key, action string) {
	delete(r.out, k)
	if _, seen := r.final[k]; !seen {
		r.order = append(r.order, k)
	}
	r.final[k] = action
}

// quiet drops the === RUN/PAUSE/CONT/NAME lines plain go test does not
// print, and puts the --- FAIL line first, as plain go test does.
func quiet(s string) string {
	var head, b strings.Builder
	for line := range strings.SplitAfterSeq(s, "\n") {
		switch {
		case strings.HasPrefix(line, "=== "):
		case strings.HasPrefix(strings.TrimSpace(line), "--- FAIL"):
			head.WriteString(line)
		default:
			b.WriteString(line)
		}
	}
	return head.String() + b.String()
}

var logPrefix = regexp.MustCompile(`^\s*[\w.-]+\.go:\d+: `)

// skipReason is the first line a skipped test logged, without file:line.
func skipReason(s string) string {
	for line := range strings.SplitSeq(s, "\n") {
		if strings.HasPrefix(line, "=== ") || strings.HasPrefix(strings.TrimSpace(line), "--- SKIP") || strings.TrimSpace(line) == "" {
			continue
		}
		line = strings.TrimSpace(logPrefix.ReplaceAllString(line, ""))
		if len(line) > 200 {
			line = line[:197] + "..."
		}
		return line
	}
	return ""
}

// read feeds every line of in to r; lines that are not JSON events (a
// compiler message on stderr) are passed to w as they are.
func read(in io.Reader, r *results, raw io.Writer, w io.Writer) error {
	br := bufio.NewReaderSize(in, 1<<20)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			if raw != nil {
				if _, werr := raw.Write(line); werr != nil {
					return werr
				}
			}
			var e event
			if line[0] == '{' && json.Unmarshal(line, &e) == nil && e.Action != "" {
				if s := r.add(e); s != "" && w != nil {
					io.WriteString(w, s)
				}
			} else if w != nil {
				w.Write(line)
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func render(in io.Reader, w io.Writer, file string) error {
	var raw io.Writer
	if file != "" {
		f, err := os.Create(file)
		if err != nil {
			return err
		}
		defer f.Close()
		bw := bufio.NewWriter(f)
		defer bw.Flush()
		raw = bw
	}
	r := newResults()
	if err := read(in, r, raw, w); err != nil {
		return err
	}
	if r.failed() {
		return errFailed
	}
	return nil
}

func (r *results) failed() bool {
	if len(r.pkgFail) > 0 {
		return true
	}
	for _, a := range r.final {
		if a == "fail" {
			return true
		}
	}
	return false
}

// modulePrefix is "MODULE/" from ./go.mod, which the lists leave out of
// package paths; "" if there is no go.mod.
func modulePrefix() string {
	b, err := os.ReadFile("go.mod")
	if err != nil {
		return ""
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if m, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.Trim(strings.TrimSpace(m), `"`) + "/"
		}
	}
	return ""
}

func report(w io.Writer, file, title, elapsed string, steps []string) error {
	module := modulePrefix()
	r := newResults()
	ran := false
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := read(f, r, nil, nil); err != nil {
			return err
		}
		ran = true
	}
	var passed, failed, skipped []key
	for _, k := range r.order {
		switch r.final[k] {
		case "pass":
			passed = append(passed, k)
		case "fail":
			failed = append(failed, k)
		case "skip":
			skipped = append(skipped, k)
		}
	}
	list := func(what string, keys []key) {
		if len(keys) == 0 {
			return
		}
		fmt.Fprintf(w, "%s (%d):\n", what, len(keys))
		// One entry per package and reason: a suite skipped for want of a
		// server is one line of why and the names of its tests.
		type group struct {
			pkg, why string
			tests    []string
		}
		var groups []*group
		for _, k := range keys {
			i := slices.IndexFunc(groups, func(g *group) bool { return g.pkg == k.pkg && g.why == r.reason[k] })
			if i < 0 {
				groups = append(groups, &group{pkg: k.pkg, why: r.reason[k]})
				i = len(groups) - 1
			}
			groups[i].tests = append(groups[i].tests, k.test)
		}
		for _, g := range groups {
			pkg, why := strings.TrimPrefix(g.pkg, module), ""
			if g.why != "" {
				why = ": " + g.why
			}
			if len(g.tests) == 1 {
				fmt.Fprintf(w, "  %s %s%s\n", pkg, g.tests[0], why)
				continue
			}
			fmt.Fprintf(w, "  %s (%d)%s\n", pkg, len(g.tests), why)
			line := "   "
			for _, t := range g.tests {
				if len(line)+1+len(t) > 100 && line != "   " {
					fmt.Fprintln(w, line)
					line = "   "
				}
				line += " " + t
			}
			fmt.Fprintln(w, line)
		}
	}
	list("skipped", skipped)
	list("failed", failed)
	var buildFail []string
	for _, p := range r.pkgFail {
		if !slices.ContainsFunc(failed, func(k key) bool { return k.pkg == p }) {
			buildFail = append(buildFail, strings.TrimPrefix(p, module))
		}
	}
	if len(buildFail) > 0 {
		fmt.Fprintf(w, "failed packages without a failed test (build error or crash) (%d):\n  %s\n", len(buildFail), strings.Join(buildFail, "\n  "))
	}

	ok := len(failed) == 0 && len(r.pkgFail) == 0
	var parts []string
	if ran {
		pkgs := fmt.Sprintf("%d packages", r.pkgCount)
		if len(r.pkgFail) > 0 {
			pkgs += fmt.Sprintf(", %d failed", len(r.pkgFail))
		}
		parts = append(parts, fmt.Sprintf("%d passed, %d failed, %d skipped (%s)", len(passed), len(failed), len(skipped), pkgs))
	}
	var stepText []string
	for _, s := range steps {
		name, result, _ := strings.Cut(s, "=")
		if !strings.HasPrefix(result, "ok") {
			ok = false
		}
		stepText = append(stepText, name+" "+result)
	}
	if len(stepText) > 0 {
		parts = append(parts, strings.Join(stepText, ", "))
	}
	if elapsed != "" {
		parts = append(parts, elapsed)
	}
	verdict := "PASS"
	if !ok {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "%s: %s — %s\n", title, verdict, strings.Join(parts, "; "))
	if !ok {
		return errFailed
	}
	return nil
}
