package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/berth-registry/berth/internal/app"
	"github.com/berth-registry/berth/internal/config"
)

// serve runs the registry until SIGTERM or SIGINT.
func serve(c *cli, cmd *command, args []string) int {
	// A first parse on a throwaway Config settles --help and the command
	// line's mistakes (one line each) before the environment and the
	// config file are read.
	scratch := config.Default()
	if st, ok := c.parse(cmd, quiet(scratch.FlagSet("berth serve")), args, 0); !ok {
		return st
	}
	cfg := config.Default()
	fs := quiet(cfg.FlagSet("berth serve"))
	if err := cfg.Load(fs, args, os.Getenv); err != nil {
		fmt.Fprintln(c.stderr, "berth serve:", err)
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
