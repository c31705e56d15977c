package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/berth-registry/berth/internal/app"
	"github.com/berth-registry/berth/internal/backup"
	"github.com/berth-registry/berth/internal/config"
)

// isStoreFlag: the flags of berth serve that locate a deployment;
// backup, restore and fsck show and accept only these on their command
// line (a config file or BERTH_* variables shared with serve may hold
// the others, which they ignore).
func isStoreFlag(name string) bool {
	switch name {
	case "data-dir", "config", "database-url", "db-timeout", "storage", "log-level":
		return true
	}
	return strings.HasPrefix(name, "s3-") && name != "s3-redirect"
}

// deploymentFlags parses args for cmd: the store flags of berth serve
// plus the command's own, declared by own on both flag sets. It returns
// the loaded configuration, or ok false and the exit status.
func deploymentFlags(c *cli, cmd *command, args []string, own func(fs *flag.FlagSet)) (cfg config.Config, status int, ok bool) {
	name := "berth " + cmd.name
	// The first parse, on a FlagSet of the store flags only, settles
	// --help and the command line's mistakes.
	scratch := config.Default()
	shown := flag.NewFlagSet(name, flag.ContinueOnError)
	scratch.FlagSet(name).VisitAll(func(f *flag.Flag) {
		if isStoreFlag(f.Name) {
			shown.Var(f.Value, f.Name, f.Usage)
		}
	})
	own(shown)
	if st, ok := c.parse(cmd, quiet(shown), args, 0); !ok {
		return cfg, st, false
	}
	cfg = config.Default()
	full := cfg.FlagSet(name)
	own(full)
	if err := cfg.Load(quiet(full), args, os.Getenv); err != nil {
		fmt.Fprintln(c.stderr, name+":", err)
		return cfg, 2, false
	}
	return cfg, 0, true
}

// progress is a bar on stderr when it is a terminal, plain lines else.
func (c *cli) progress() *backup.Progress {
	f, ok := c.stderr.(*os.File)
	return backup.NewProgress(c.stderr, ok && backup.IsTerminal(f))
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
}

func (c *cli) logger(cfg config.Config) *slog.Logger {
	cfg.LogFormat = "text"
	if cfg.LogLevel == "info" {
		cfg.LogLevel = "warn" // the progress and the summary say enough
	}
	return app.NewLogger(cfg, os.Stderr)
}

func runBackup(c *cli, cmd *command, args []string) int {
	var opt backup.BackupOptions
	var pgBin string
	cfg, st, ok := deploymentFlags(c, cmd, args, func(fs *flag.FlagSet) {
		fs.StringVar(&opt.To, "to", "", "snapshot directory `PATH` (made if missing; an earlier snapshot there makes the backup incremental)")
		fs.BoolVar(&opt.CopyBlobs, "copy-blobs", false, "with --storage s3: copy the blobs into the snapshot instead of leaving them in the bucket")
		fs.BoolVar(&opt.NoLink, "no-link", false, "copy local blobs even where a hard link would do")
		fs.StringVar(&pgBin, "pg-bin", "", "`DIR` of pg_dump and pg_restore (default: PATH, then /usr/lib/postgresql/15/bin)")
	})
	if !ok {
		return st
	}
	if opt.To == "" {
		return c.fail("berth backup", "--to is required", "", "berth backup --help")
	}
	ctx, stop := signalContext()
	defer stop()
	src, err := app.BackupSource(ctx, cfg, c.logger(cfg))
	if err != nil {
		fmt.Fprintln(c.stderr, "berth backup:", err)
		return 1
	}
	src.PGBin = pgBin
	opt.Version, opt.Progress = app.Version, c.progress()
	res, err := backup.Backup(ctx, src, opt)
	if err != nil {
		fmt.Fprintln(c.stderr, "berth backup:", err)
		return 1
	}
	m := res.Manifest
	fmt.Fprintf(c.stdout, "snapshot %s: %d repositories, %d artifacts, %d tags, %d blobs (%d bytes, %s)\n",
		opt.To, m.Counts.Repositories, m.Counts.Artifacts, m.Counts.Tags, m.Counts.Blobs, m.Counts.BlobBytes, m.BlobsLocation)
	fmt.Fprintf(c.stdout, "blobs: %d linked, %d copied, %d already there, %d removed; %d database copies; %.2fs\n",
		res.Linked, res.Copied, res.Skipped, res.Pruned, res.Attempts, res.Duration.Seconds())
	return 0
}

func runRestore(c *cli, cmd *command, args []string) int {
	var opt backup.RestoreOptions
	cfg, st, ok := deploymentFlags(c, cmd, args, func(fs *flag.FlagSet) {
		fs.StringVar(&opt.From, "from", "", "snapshot directory `PATH` written by berth backup")
		fs.StringVar(&opt.PGBin, "pg-bin", "", "`DIR` of pg_dump and pg_restore (default: PATH, then /usr/lib/postgresql/15/bin)")
	})
	if !ok {
		return st
	}
	if opt.From == "" {
		return c.fail("berth restore", "--from is required", "", "berth restore --help")
	}
	ctx, stop := signalContext()
	defer stop()
	inPlace, err := app.RestoreBlobs(ctx, cfg, c.logger(cfg))
	if err != nil {
		fmt.Fprintln(c.stderr, "berth restore:", err)
		return 1
	}
	opt.DataDir, opt.DatabaseURL, opt.InPlace, opt.Progress = cfg.DataDir, cfg.Database.URL, inPlace, c.progress()
	res, err := backup.Restore(ctx, opt)
	if err != nil {
		fmt.Fprintln(c.stderr, "berth restore:", err)
		return 1
	}
	m := res.Manifest
	fmt.Fprintf(c.stdout, "restored %s (taken %s) into %s: %d repositories, %d artifacts, %d tags, %d blobs (%d bytes) verified; %.2fs\n",
		opt.From, m.CreatedAt.Format("2006-01-02T15:04:05Z"), cfg.DataDir, m.Counts.Repositories, m.Counts.Artifacts,
		m.Counts.Tags, res.Blobs, res.Bytes, res.Duration.Seconds())
	return 0
}

func runFsck(c *cli, cmd *command, args []string) int {
	var opt backup.FsckOptions
	var asJSON bool
	cfg, st, ok := deploymentFlags(c, cmd, args, func(fs *flag.FlagSet) {
		fs.BoolVar(&opt.Quick, "quick", false, "check each blob's existence and size only, not its content")
		fs.BoolVar(&asJSON, "json", false, "write the report as JSON on stdout")
	})
	if !ok {
		return st
	}
	ctx, stop := signalContext()
	defer stop()
	src, err := app.BackupSource(ctx, cfg, c.logger(cfg))
	if err != nil {
		fmt.Fprintln(c.stderr, "berth fsck:", err)
		return 1
	}
	if !asJSON {
		opt.Progress = c.progress()
	}
	rep, err := backup.Fsck(ctx, src, opt)
	if err != nil {
		fmt.Fprintln(c.stderr, "berth fsck:", err)
		return 1
	}
	if asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		printFsck(c, rep)
	}
	if !rep.Consistent {
		return 1
	}
	return 0
}

// maxPrinted bounds the problems and orphans the text report lists.
const maxPrinted = 50

func printFsck(c *cli, rep *backup.FsckReport) {
	for i, p := range rep.Problems {
		if i == maxPrinted {
			fmt.Fprintf(c.stdout, "… and %d more problems (--json lists all)\n", len(rep.Problems)-maxPrinted)
			break
		}
		line := p.Kind
		for _, kv := range [][2]string{{"repository", p.Repository}, {"manifest", p.Manifest}, {"tag", p.Tag}, {"digest", p.Digest}} {
			if kv[1] != "" {
				line += " " + kv[0] + "=" + kv[1]
			}
		}
		if p.Detail != "" {
			line += ": " + p.Detail
		}
		fmt.Fprintln(c.stdout, line)
	}
	for i, o := range rep.Orphans {
		if i == maxPrinted {
			fmt.Fprintf(c.stdout, "… and %d more orphans\n", len(rep.Orphans)-maxPrinted)
			break
		}
		fmt.Fprintf(c.stdout, "orphan %s (%d bytes): no database row references it\n", o.Digest, o.Size)
	}
	verdict := "consistent"
	if !rep.Consistent {
		verdict = fmt.Sprintf("INCONSISTENT: %d problems", len(rep.Problems))
	}
	how := "content verified"
	if !rep.ContentChecked {
		how = "existence and size checked"
	}
	orphans := "orphans not checked (object store)"
	if rep.OrphansChecked {
		orphans = fmt.Sprintf("%d orphans (%d bytes)", len(rep.Orphans), rep.OrphanBytes)
	}
	fmt.Fprintf(c.stdout, "%s: %d repositories, %d artifacts, %d tags, %d blobs (%d bytes, %s); %s; %.2fs\n",
		verdict, rep.Counts.Repositories, rep.Counts.Artifacts, rep.Counts.Tags, rep.Counts.Blobs, rep.Counts.BlobBytes,
		how, orphans, rep.Seconds)
}
