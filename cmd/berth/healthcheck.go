package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

// healthcheck probes a running berth for container health checks (images
// FROM scratch have no curl): GET URL, by default /readyz on the port of
// BERTH_ADDR (or 5000) on loopback; exit status 0 only for 200.
func healthcheck(c *cli, cmd *command, args []string) int {
	fs := quiet(flag.NewFlagSet("berth healthcheck", flag.ContinueOnError))
	if st, ok := c.parse(cmd, fs, args, 1); !ok {
		return st
	}
	url := healthURL(os.Getenv("BERTH_ADDR"))
	if fs.NArg() == 1 {
		url = fs.Arg(0)
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	res, err := hc.Get(url)
	if err != nil {
		fmt.Fprintln(c.stderr, "berth healthcheck:", err)
		return 1
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		fmt.Fprintln(c.stderr, "berth healthcheck:", url, res.Status)
		return 1
	}
	return 0
}

// healthURL is http://127.0.0.1:PORT/readyz for the port of addr (default 5000).
func healthURL(addr string) string {
	port := "5000"
	if _, p, err := net.SplitHostPort(addr); err == nil && p != "" && p != "0" {
		port = p
	}
	return "http://" + net.JoinHostPort("127.0.0.1", port) + "/readyz"
}
