package config

import (
	"flag"
	"fmt"
	"time"
)

// Webhook tunes the delivery of webhooks (internal/webhook).
type Webhook struct {
	Workers  int           // deliveries made at once by this replica
	Timeout  time.Duration // one delivery request
	RetryFor time.Duration // how long a failing delivery is retried before it is given up
	RetryMax time.Duration // the longest pause between two attempts (they back off from 5s)
	Buffer   int           // events waiting to be recorded; past it they are dropped (and counted in the log)
}

// DefaultWebhook: 4 workers, 10 s per request, retries for 12 hours at
// most 30 minutes apart, 4096 events buffered.
func DefaultWebhook() Webhook {
	return Webhook{Workers: 4, Timeout: 10 * time.Second, RetryFor: 12 * time.Hour, RetryMax: 30 * time.Minute, Buffer: 4096}
}

func (w *Webhook) flags(fs *flag.FlagSet) {
	fs.IntVar(&w.Workers, "webhook-workers", w.Workers, "webhook deliveries this replica makes at once")
	fs.DurationVar(&w.Timeout, "webhook-timeout", w.Timeout, "longest a webhook delivery request may take")
	fs.DurationVar(&w.RetryFor, "webhook-retry-for", w.RetryFor, "how long a failing webhook delivery is retried (exponential backoff with jitter from 5s) before it is given up")
	fs.DurationVar(&w.RetryMax, "webhook-retry-max", w.RetryMax, "the longest pause between two attempts of a webhook delivery")
	fs.IntVar(&w.Buffer, "webhook-buffer", w.Buffer, "events held in memory on their way to the webhook queue; past it they are dropped and counted in the log, so pushes and pulls never wait")
}

// validate names the first bad setting.
func (w *Webhook) validate() error {
	switch {
	case w.Workers < 1:
		return fmt.Errorf("webhook-workers %d: want at least 1", w.Workers)
	case w.Timeout < time.Second:
		return fmt.Errorf("webhook-timeout %s: want at least 1s", w.Timeout)
	case w.RetryFor < time.Minute:
		return fmt.Errorf("webhook-retry-for %s: want at least 1m", w.RetryFor)
	case w.RetryMax < time.Second:
		return fmt.Errorf("webhook-retry-max %s: want at least 1s", w.RetryMax)
	case w.Buffer < 1:
		return fmt.Errorf("webhook-buffer %d: want at least 1", w.Buffer)
	}
	return nil
}
