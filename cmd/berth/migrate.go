package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/berth-registry/berth/internal/migrate"
)

// migrateCmd moves projects from a Harbor (or berth) or a plain OCI
// registry into a running berth (internal/migrate).
func migrateCmd(c *cli, cmd *command, args []string) int {
	fs := quiet(flag.NewFlagSet("berth migrate", flag.ContinueOnError))
	from := fs.String("from", "", "the source's URL (https://old-harbor)")
	fromType := fs.String("from-type", "harbor", "the source's type: harbor (Harbor or berth) or docker-registry (repositories grouped into projects by their first segment)")
	user := fs.String("user", "", "the source's user name (an administrator of a harbor)")
	stdin := fs.Bool("password-stdin", false, "read the source's password from the first line of standard input")
	projects := fs.String("projects", "", "the projects to move, comma-separated (default: all)")
	to := fs.String("to", "http://127.0.0.1:5000", "the berth that receives")
	toUser := fs.String("to-user", "admin", "berth's administrator (its password in BERTH_MIGRATE_PASSWORD, else BERTH_ADMIN_PASSWORD)")
	if st, ok := c.parse(cmd, fs, args, 0); !ok {
		return st
	}
	if *from == "" {
		return c.fail("berth migrate", "--from is required", "", "berth migrate --help")
	}
	opt := migrate.Options{From: migrate.Endpoint{URL: *from, User: *user}, FromType: *fromType,
		To: migrate.Endpoint{URL: *to, User: *toUser, Password: os.Getenv("BERTH_MIGRATE_PASSWORD")}, Progress: c.stdout}
	if opt.To.Password == "" {
		opt.To.Password = os.Getenv("BERTH_ADMIN_PASSWORD")
	}
	if *stdin {
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil && line == "" {
			fmt.Fprintln(c.stderr, "berth migrate: reading the password from standard input:", err)
			return 1
		}
		opt.From.Password = strings.TrimRight(line, "\r\n")
	}
	if *projects != "" {
		opt.Projects = strings.Split(*projects, ",")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := migrate.Run(ctx, opt)
	if rep != nil {
		fmt.Fprintln(c.stdout, "\nproject\tcreated\tmembers\tlabels\timmutable rules\tretention\trepositories\tfailed\treplication")
		for _, p := range rep.Projects {
			fmt.Fprintf(c.stdout, "%s\t%t\t%d (%d skipped)\t%d\t%d\t%t\t%d\t%d\t%s\n", p.Name, p.Created, p.Members, p.MembersSkipped,
				p.Labels, p.Immutable, p.Retention, p.Repositories, p.Failed, p.Status)
		}
	}
	if err != nil {
		fmt.Fprintln(c.stderr, "berth migrate:", err)
		return 1
	}
	if rep.Failed() {
		fmt.Fprintln(c.stderr, "berth migrate: some replications did not succeed; run it again to retry what is missing")
		return 1
	}
	return 0
}
