// Command berth is a private OCI container registry in one binary.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/berth-registry/berth/internal/app"
	"github.com/berth-registry/berth/internal/config"
)

const usage = `berth — a private OCI container registry

Usage:
  berth serve [flags]   run the registry (berth serve --help lists every flag)
  berth version         print the version
  berth healthcheck     exit 0 if the local registry is ready (for container health checks)
`

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	switch args[0] {
	case "version", "--version", "-v":
		fmt.Println("berth", app.Version)
		return 0
	case "serve":
		return serve(args[1:])
	case "healthcheck":
		return healthcheck(args[1:])
	case "help", "--help", "-h":
		fmt.Print(usage)
		return 0
	}
	fmt.Fprintf(os.Stderr, "berth: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func serve(args []string) int {
	cfg := config.Default()
	fs := cfg.FlagSet("berth serve")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: berth serve [flags]\n\nEvery flag can also be set as an environment variable BERTH_<FLAG>\n(e.g. --data-dir as BERTH_DATA_DIR) or in the --config JSON file;\nflags win over the environment, which wins over the file.\n\n")
		fs.PrintDefaults()
	}
	if err := cfg.Load(fs, args, os.Getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, "berth serve:", err)
		return 2
	}
	log := app.NewLogger(cfg, os.Stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := app.Run(ctx, cfg, log, nil); err != nil {
		log.Error("berth serve failed", "err", err)
		return 1
	}
	return 0
}
