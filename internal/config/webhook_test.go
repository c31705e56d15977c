package config

import (
	"strings"
	"testing"
	"time"
)

func TestWebhook(t *testing.T) {
	c, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Webhook != DefaultWebhook() || c.Webhook.RetryFor != 12*time.Hour {
		t.Fatalf("defaults: %+v", c.Webhook)
	}
	c, err = load(t, []string{"--webhook-workers", "8", "--webhook-retry-for", "48h"}, map[string]string{"BERTH_WEBHOOK_TIMEOUT": "3s"})
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultWebhook()
	want.Workers, want.RetryFor, want.Timeout = 8, 48*time.Hour, 3*time.Second
	if c.Webhook != want {
		t.Fatalf("got %+v, want %+v", c.Webhook, want)
	}
	for field, args := range map[string][]string{
		"webhook-workers":   {"--webhook-workers", "0"},
		"webhook-timeout":   {"--webhook-timeout", "10ms"},
		"webhook-retry-for": {"--webhook-retry-for", "0s"},
		"webhook-retry-max": {"--webhook-retry-max", "0s"},
		"webhook-buffer":    {"--webhook-buffer", "0"},
	} {
		if _, err := load(t, args, nil); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: err = %v, want it to name the field", field, err)
		}
	}
}
