// Command berth is a private OCI container registry in one binary.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/berth-registry/berth/internal/app"
	"github.com/berth-registry/berth/internal/config"
)

func main() { os.Exit(newCLI(os.Stdout, os.Stderr).run(os.Args[1:])) }

// command is one `berth NAME`. A new command (backup, restore, migrate,
// vulndb, …) is one more entry in newCLI's list: it gets `berth NAME --help`,
// `berth help NAME`, a line in `berth --help` and the one-line errors of
// cli.parse.
type command struct {
	name    string
	args    string // what follows `berth NAME` in its usage line
	summary string // its line in `berth --help`
	help    string // what `berth NAME --help` says before the flags
	env     bool   // its flags can also be set as BERTH_* variables
	run     func(c *cli, cmd *command, args []string) int
}

// cli runs one command line, writing to stdout and stderr.
type cli struct {
	stdout, stderr io.Writer
	commands       []*command
}

func newCLI(stdout, stderr io.Writer) *cli {
	return &cli{stdout: stdout, stderr: stderr, commands: []*command{
		{
			name: "serve", args: "[flags]", summary: "run the registry", env: true, run: serve,
			help: `Runs the registry: with no flags, on :5000 with data in ./data (SQLite and a
local directory). Every flag can also be set as the environment variable shown
with it, or in the JSON file given with --config ({"addr": ":5000"}); flags
win over the environment, which wins over the file. Booleans are switched on
with --name and off with --name=false.`,
		},
		{
			name: "backup", args: "--to PATH [flags]", summary: "take a consistent snapshot of a deployment, while it runs", env: true, run: runBackup,
			help: `Copies the database (SQLite with VACUUM INTO, PostgreSQL with pg_dump) and the
blobs it references into the snapshot directory PATH, while berth serves: no
lock is taken and pushes go on. Local blobs are hard linked where PATH is on
the same file system, else copied; blobs already in PATH are skipped, so a
second backup to the same PATH copies only what is new. S3 blobs are left in
the bucket unless --copy-blobs. PATH/snapshot.json is written last: a
directory without it is an interrupted backup. Give the deployment's flags
(--data-dir, --database-url, --storage, --s3-*) as to berth serve.`,
		},
		{
			name: "restore", args: "--from PATH --data-dir NEW [flags]", summary: "restore a snapshot into a new data directory (and database)", env: true, run: runRestore,
			help: `Verifies every blob of the snapshot PATH against its digest and restores it
into the new or empty data directory NEW (and, for a PostgreSQL snapshot, into
the empty database of --database-url with pg_restore, in one transaction). A
snapshot with a missing or corrupt blob is refused, and nothing is written.`,
		},
		{
			name: "fsck", args: "[flags]", summary: "check a deployment's consistency (exit 1 if inconsistent)", env: true, run: runFsck,
			help: `Checks that every manifest's blobs and child manifests exist, that every blob's
bytes are in the blob store with the right size and digest (--quick: size
only), and that tags point at manifests; lists orphaned blob files (bytes no
database row references). Exits 1 if anything is inconsistent (orphans waste
space but are not). It may run while berth serves.`,
		},
		{
			name: "healthcheck", args: "[URL]", summary: "exit 0 if the local registry is ready (container health checks)", run: healthcheck,
			help: `Exits 0 if GET URL answers 200, 1 otherwise. URL defaults to /readyz on
127.0.0.1 at the port of BERTH_ADDR (5000 if unset): the HEALTHCHECK of
images built FROM scratch, which have no curl.`,
		},
		{
			name: "vulndb", args: "import [flags] FILE", summary: "give a running berth a vulnerability database from a file (air-gapped)", run: vulndbCmd,
			help: `Imports Aqua's Trivy DB v2 from FILE, the db.tar.gz layer of
mirror.gcr.io/aquasec/trivy-db:2 (oras pull writes it): checks it as berth will
(schema version 2, trivy.db opens, platform and vulnerability counts), then
pushes it to the running berth at --url as the OCI artifact Aqua publishes, at
--vulndb-ref. berth validates it again, swaps it in within seconds and matches
every stored package list again; a database it refuses leaves the active one in
place. The password is read from BERTH_PASSWORD.`,
		},
		{
			name: "migrate", args: "--from URL [flags]", summary: "move projects from Harbor or an OCI registry into a running berth", run: migrateCmd,
			help: `Moves projects from a Harbor (or berth) or any OCI registry into the berth at
--to, through their APIs: each project with its metadata and storage quota,
its members whose users exist in berth, its labels, tag immutability and
retention rules, then all its artifacts with berth's replication (a pull-mode
policy per project, with a progress line per second). It skips what is there
already: run it again after a failure, or to catch up with new pushes.

  echo "$OLD_PASSWORD" | BERTH_ADMIN_PASSWORD=... berth migrate \
      --from https://old-harbor --user admin --password-stdin --projects a,b`,
		},
		{
			name: "version", summary: "print the version", run: version,
			help: "Prints berth's version.",
		},
		{
			name: "help", args: "[COMMAND]", summary: "show the help of berth or of a command", run: help,
			help: "Shows the help of a command (the same as berth COMMAND --help), or this list.",
		},
	}}
}

func (c *cli) usage(w io.Writer) {
	fmt.Fprint(w, "berth — a private OCI container registry\n\nUsage: berth COMMAND [flags]\n\nCommands:\n")
	for _, cmd := range c.commands {
		fmt.Fprintf(w, "  %-12s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprint(w, "\nberth COMMAND --help shows a command's flags, e.g. berth serve --help.\n")
}

func (c *cli) lookup(name string) *command {
	for _, cmd := range c.commands {
		if cmd.name == name {
			return cmd
		}
	}
	return nil
}

func (c *cli) run(args []string) int {
	if len(args) == 0 {
		c.usage(c.stderr)
		return 2
	}
	switch args[0] {
	case "--help", "-help", "-h":
		c.usage(c.stdout)
		return 0
	case "--version", "-version", "-v":
		return version(c, c.lookup("version"), nil)
	}
	if cmd := c.lookup(args[0]); cmd != nil {
		return cmd.run(c, cmd, args[1:])
	}
	if strings.HasPrefix(args[0], "-") {
		return c.fail("berth", "unknown flag --"+strings.TrimLeft(args[0], "-"), "", "berth --help")
	}
	var names []string
	for _, cmd := range c.commands {
		names = append(names, cmd.name)
	}
	hint := ""
	if n := closest(args[0], names); n != "" {
		hint = "did you mean " + n + "?"
	}
	return c.fail("berth", fmt.Sprintf("unknown command %q", args[0]), hint, "berth --help")
}

// fail prints one line, "WHO: MSG (HINT; see SEE)", and returns the exit
// status of a usage error.
func (c *cli) fail(who, msg, hint, see string) int {
	switch {
	case strings.HasSuffix(hint, "?"):
		hint += " "
	case hint != "":
		hint += "; "
	}
	fmt.Fprintf(c.stderr, "%s: %s (%ssee %s)\n", who, msg, hint, see)
	return 2
}

// help prints cmd's usage line, its help and its flags to w.
func (c *cli) help(w io.Writer, cmd *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: %s\n\n%s\n", strings.TrimSpace("berth "+cmd.name+" "+cmd.args), cmd.help)
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if !hasFlags {
		return
	}
	fmt.Fprintln(w)
	var env func(string) string
	if cmd.env {
		env = config.EnvName
	}
	config.PrintFlags(w, fs, env)
}

// parse parses cmd's flags in args with fs and allows at most maxArgs
// arguments after them. It returns ok, or the exit status: 0 after printing
// the help for --help or -h, 2 after printing one line for a bad flag or
// argument. fs must not print anything itself (see quiet).
func (c *cli) parse(cmd *command, fs *flag.FlagSet, args []string, maxArgs int) (status int, ok bool) {
	who, see := "berth "+cmd.name, "berth "+cmd.name+" --help"
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		c.help(c.stdout, cmd, fs)
		return 0, false
	case err != nil:
		msg, hint := flagError(err, fs)
		return c.fail(who, msg, hint, see), false
	case fs.NArg() > maxArgs:
		extra, hint := fs.Arg(maxArgs), ""
		// `--auth false`: a boolean flag takes no separate value, so
		// parsing stopped at "false".
		if i := len(args) - fs.NArg(); maxArgs == 0 && i > 0 && (extra == "true" || extra == "false") {
			if f := fs.Lookup(strings.TrimLeft(args[i-1], "-")); f != nil {
				hint = fmt.Sprintf("a boolean flag takes its value after =: --%s=%s", f.Name, extra)
			}
		}
		return c.fail(who, fmt.Sprintf("unexpected argument %q", extra), hint, see), false
	}
	return 0, true
}

// quiet makes fs leave all printing to cli.parse.
func quiet(fs *flag.FlagSet) *flag.FlagSet {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// The errors of flag.FlagSet.Parse, which names flags -name whatever the
// user typed.
var (
	errUnknown  = regexp.MustCompile(`^flag provided but not defined: -+(.*)$`)
	errNoValue  = regexp.MustCompile(`^flag needs an argument: -+(.*)$`)
	errBadValue = regexp.MustCompile(`^invalid (?:boolean )?value (".*") for (?:flag )?-+([^:]+): (.*)$`)
	errBadBool  = regexp.MustCompile(`^invalid boolean flag ([^:]+): (.*)$`)
)

// flagError rewrites an error of fs.Parse as one line naming the flag the
// GNU way (--name), and a hint: the nearest flag to a misspelt one.
func flagError(err error, fs *flag.FlagSet) (msg, hint string) {
	s := err.Error()
	if m := errUnknown.FindStringSubmatch(s); m != nil {
		var names []string
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		if n := closest(m[1], names); n != "" {
			hint = "did you mean --" + n + "?"
		}
		return "unknown flag --" + m[1], hint
	}
	if m := errNoValue.FindStringSubmatch(s); m != nil {
		return "flag --" + m[1] + " needs a value", ""
	}
	if m := errBadValue.FindStringSubmatch(s); m != nil {
		why := m[3]
		if h := config.ValueHint(fs.Lookup(m[2])); h != "" && why == "parse error" {
			why = "want " + h
		}
		return fmt.Sprintf("invalid value %s for --%s: %s", m[1], m[2], why), ""
	}
	if m := errBadBool.FindStringSubmatch(s); m != nil {
		return fmt.Sprintf("invalid value for --%s: want true or false", m[1]), ""
	}
	return s, ""
}

// closest is the name nearest to s if it is near enough to be a typo (at
// most 2 edits, and fewer than half of s), or "".
func closest(s string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := distance(s, n); d < bestD {
			best, bestD = n, d
		}
	}
	if bestD > 2 || 2*bestD >= len(s) {
		return ""
	}
	return best
}

// distance counts the edits (insert, delete, replace, swap two neighbours)
// from a to b: the optimal string alignment distance.
func distance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

func version(c *cli, cmd *command, args []string) int {
	if st, ok := c.parse(cmd, quiet(flag.NewFlagSet("berth version", flag.ContinueOnError)), args, 0); !ok {
		return st
	}
	fmt.Fprintln(c.stdout, "berth", app.Version)
	return 0
}

func help(c *cli, cmd *command, args []string) int {
	if st, ok := c.parse(cmd, quiet(flag.NewFlagSet("berth help", flag.ContinueOnError)), args, 1); !ok {
		return st
	}
	if len(args) == 0 {
		c.usage(c.stdout)
		return 0
	}
	target := c.lookup(args[0])
	if target == nil {
		return c.run(args) // unknown command: the same one line as `berth NAME`
	}
	return target.run(c, target, []string{"--help"})
}
