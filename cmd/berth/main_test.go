package main

import (
	"errors"
	"flag"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/config"
)

// TestMain lets the tests run this test binary as the berth command
// (BERTH_TEST_MAIN=1), to see real exit statuses.
func TestMain(m *testing.M) {
	if os.Getenv("BERTH_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func runCLI(args ...string) (status int, stdout, stderr string) {
	var out, errw strings.Builder
	status = newCLI(&out, &errw).run(args)
	return status, out.String(), errw.String()
}

// serveFlags are the flags of berth serve, from the FlagSet itself, so a
// new flag is covered without touching these tests.
func serveFlags() []*flag.Flag {
	cfg := config.Default()
	var flags []*flag.Flag
	cfg.FlagSet("berth serve").VisitAll(func(f *flag.Flag) { flags = append(flags, f) })
	return flags
}

// Mistakes on the command line get one line on stderr, naming what is
// wrong and where help is, and exit status 2; nothing on stdout.
func TestUsageErrorsAreOneLine(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--foo"}, "berth serve: unknown flag --foo (see berth serve --help)"},
		{[]string{"serve", "-foo=1"}, "berth serve: unknown flag --foo (see berth serve --help)"},
		{[]string{"serve", "--data-dri", "x"}, "berth serve: unknown flag --data-dri (did you mean --data-dir? see berth serve --help)"},
		{[]string{"serve", "--addr"}, "berth serve: flag --addr needs a value (see berth serve --help)"},
		{[]string{"serve", "--max-blob-size", "lots"}, `berth serve: invalid value "lots" for --max-blob-size: want a whole number (see berth serve --help)`},
		{[]string{"serve", "--upload-ttl=soon"}, `berth serve: invalid value "soon" for --upload-ttl: want a duration such as 90s, 15m or 24h (see berth serve --help)`},
		{[]string{"serve", "--auth=maybe"}, `berth serve: invalid value "maybe" for --auth: want true or false (see berth serve --help)`},
		{[]string{"serve", "--auth", "false"}, `berth serve: unexpected argument "false" (a boolean flag takes its value after =: --auth=false; see berth serve --help)`},
		{[]string{"serve", "extra"}, `berth serve: unexpected argument "extra" (see berth serve --help)`},
		{[]string{"serv"}, `berth: unknown command "serv" (did you mean serve? see berth --help)`},
		{[]string{"frobnicate"}, `berth: unknown command "frobnicate" (see berth --help)`},
		{[]string{"--foo"}, "berth: unknown flag --foo (see berth --help)"},
		{[]string{"help", "nope"}, `berth: unknown command "nope" (see berth --help)`},
		{[]string{"version", "--short"}, "berth version: unknown flag --short (see berth version --help)"},
		{[]string{"healthcheck", "a", "b"}, `berth healthcheck: unexpected argument "b" (see berth healthcheck --help)`},
	}
	for _, c := range cases {
		status, stdout, stderr := runCLI(c.args...)
		if status != 2 || stdout != "" || stderr != c.want+"\n" {
			t.Errorf("berth %s: status %d, stdout %q, stderr %q; want 2, nothing, %q",
				strings.Join(c.args, " "), status, stdout, stderr, c.want)
		}
	}
}

// --help (and -h, and berth help serve) lists every flag of the FlagSet in
// --name form with its environment variable, on stdout, with status 0.
func TestServeHelpListsEveryFlag(t *testing.T) {
	_, want, _ := runCLI("serve", "--help")
	for _, args := range [][]string{{"serve", "--help"}, {"serve", "-h"}, {"serve", "--addr", ":1", "--help"}, {"help", "serve"}} {
		status, stdout, stderr := runCLI(args...)
		if status != 0 || stderr != "" || stdout != want {
			t.Errorf("berth %s: status %d, stderr %q, same help: %v", strings.Join(args, " "), status, stderr, stdout == want)
		}
	}
	if !strings.HasPrefix(want, "Usage: berth serve [flags]\n") {
		t.Errorf("help starts %q", strings.SplitN(want, "\n", 2)[0])
	}
	for _, f := range serveFlags() {
		line := regexp.MustCompile(`(?m)^  --` + regexp.QuoteMeta(f.Name) + `( [A-Z:]+)? +\S`)
		if !line.MatchString(want) {
			t.Errorf("--help has no line for --%s", f.Name)
			continue
		}
		// The entry runs from its line to the next flag's.
		entry := want[line.FindStringIndex(want)[0]:]
		if i := strings.Index(entry[3:], "\n  --"); i >= 0 {
			entry = entry[:i+3]
		}
		if !strings.Contains(strings.Join(strings.Fields(entry), " "), "env "+config.EnvName(f.Name)) {
			t.Errorf("--help for --%s does not name %s:\n%s", f.Name, config.EnvName(f.Name), entry)
		}
	}
	if strings.Contains(want, " -addr") {
		t.Error("--help writes flags with one dash")
	}
	for _, group := range []string{"General:", "Access control:", "TLS and ACME:", "Database:", "Blob storage:"} {
		if !strings.Contains(want, "\n"+group+"\n") {
			t.Errorf("--help has no %s section", group)
		}
	}
}

func TestTopLevelHelpListsEveryCommand(t *testing.T) {
	status, stdout, _ := runCLI("--help")
	if status != 0 {
		t.Fatalf("berth --help: status %d", status)
	}
	c := newCLI(nil, nil)
	for _, cmd := range c.commands {
		if !regexp.MustCompile(`(?m)^  ` + cmd.name + ` +\S`).MatchString(stdout) {
			t.Errorf("berth --help does not list %s", cmd.name)
		}
		status, help, _ := runCLI(cmd.name, "--help")
		if status != 0 || !strings.HasPrefix(help, "Usage: berth "+cmd.name) {
			t.Errorf("berth %s --help: status %d, %q", cmd.name, status, help)
		}
	}
	if status, _, stderr := runCLI(); status != 2 || !strings.Contains(stderr, "Commands:") {
		t.Errorf("berth alone: status %d, stderr %q", status, stderr)
	}
}

// The real command: one line on stderr and exit status 2.
func TestExitStatus(t *testing.T) {
	cmd := exec.Command(os.Args[0], "serve", "--foo")
	cmd.Env = append(os.Environ(), "BERTH_TEST_MAIN=1")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("berth serve --foo: %v, want exit status 2", err)
	}
	if want := "berth serve: unknown flag --foo (see berth serve --help)\n"; stderr.String() != want || stdout.Len() > 0 {
		t.Errorf("stderr %q, stdout %q; want %q only", stderr.String(), stdout.String(), want)
	}
}

// Values from the environment that do not parse are one line too.
func TestEnvErrorNamesVariable(t *testing.T) {
	t.Setenv("BERTH_UPLOAD_TTL", "soon")
	status, _, stderr := runCLI("serve", "--data-dir", t.TempDir())
	if want := "berth serve: BERTH_UPLOAD_TTL \"soon\": want a duration such as 90s, 15m or 24h\n"; status != 2 || stderr != want {
		t.Errorf("status %d, stderr %q; want 2, %q", status, stderr, want)
	}
}

// The README documents every flag (house rule: every knob in --help and
// the README).
func TestReadmeDocumentsEveryFlag(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range serveFlags() {
		if !strings.Contains(string(readme), "`--"+f.Name+"`") && !strings.Contains(string(readme), "`--"+f.Name+" ") {
			t.Errorf("README.md does not mention `--%s`", f.Name)
		}
	}
}

func TestClosest(t *testing.T) {
	names := []string{"addr", "data-dir", "auth", "s3-bucket"}
	for in, want := range map[string]string{"adr": "addr", "data-dri": "data-dir", "auht": "auth", "x": "", "foo": "", "s3-buckets": "s3-bucket"} {
		if got := closest(in, names); got != want {
			t.Errorf("closest(%q) = %q, want %q", in, got, want)
		}
	}
}
