package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/meta"
)

// Headers of every delivery (berth's).
const (
	SignatureHeader = "X-Berth-Signature" // "sha256=" + hex HMAC-SHA256 of the body with the policy's secret
	EventHeader     = "X-Berth-Event"     // the event type
	DeliveryHeader  = "X-Berth-Delivery"  // the task id: the same on every retry, for receivers to drop duplicates
)

// maxResponse bounds what is read of a receiver's answer (kept in the
// task's log); maxLoggedBody what is logged of the body sent.
const (
	maxResponse   = 4 << 10
	maxLoggedBody = 16 << 10
)

// Sign is the X-Berth-Signature value of body under secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// DingTalkSign is DingTalk's signature of a robot URL: base64 of the
// HMAC-SHA256, keyed by the secret, of "timestamp\nsecret".
func DingTalkSign(secret string, timestampMS int64) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(timestampMS, 10) + "\n" + secret))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// newClient is an HTTP client that follows at most three redirects, and
// only on the host it was sent to.
func newClient(timeout time.Duration, skipVerify bool) *http.Client {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSClientConfig:       &tls.Config{InsecureSkipVerify: skipVerify}, //nolint:gosec // the policy's skip_cert_verify
	}
	return &http.Client{Transport: tr, Timeout: timeout, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 3 || req.URL.Host != via[0].URL.Host {
			return http.ErrUseLastResponse
		}
		return nil
	}}
}

// work claims due deliveries and makes them until ctx ends.
func (s *Service) work(ctx context.Context) {
	ttl := 2*s.opt.Timeout + 30*time.Second
	for ctx.Err() == nil {
		tasks, err := s.opt.Store.ClaimWebhookTasks(ctx, s.opt.Holder, ttl, 1)
		if err != nil && ctx.Err() == nil {
			s.opt.Log.Warn("webhook: claiming deliveries", "err", err)
		}
		if len(tasks) == 0 {
			select {
			case <-ctx.Done():
			case <-s.wake:
			case <-time.After(s.opt.Poll):
			}
			continue
		}
		for i := range tasks {
			s.attempt(ctx, &tasks[i])
		}
		s.poke() // the next of the key may be due now: another worker looks
	}
}

// attempt makes one delivery attempt and records it.
func (s *Service) attempt(ctx context.Context, t *meta.WebhookTask) {
	a := s.send(ctx, t)
	if ctx.Err() != nil {
		return // shutting down: Run gives the lease back, the task is tried again
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := s.opt.Store.FinishWebhookAttempt(fctx, t.ID, s.opt.Holder, a); err != nil && !errors.Is(err, meta.ErrLeaseLost) {
		s.opt.Log.Warn("webhook: recording a delivery", "task", t.ID, "err", err)
	}
}

// send delivers t once and says what became of it.
func (s *Service) send(ctx context.Context, t *meta.WebhookTask) meta.WebhookAttempt {
	now := time.Now()
	var log strings.Builder
	fmt.Fprintf(&log, "%s attempt %d: ", now.UTC().Format(time.RFC3339), t.RunCount+1)
	giveUp := func(msg string) meta.WebhookAttempt {
		log.WriteString(msg + "\n")
		return meta.WebhookAttempt{Status: meta.JobError, Message: msg, Log: log.String()}
	}
	p, err := s.opt.Store.WebhookPolicy(ctx, t.PolicyID)
	if errors.Is(err, meta.ErrNotFound) {
		return giveUp(errPolicyGone.Error())
	}
	if err != nil {
		return s.retry(t, &log, 0, "reading the policy: "+err.Error())
	}
	if !p.Enabled {
		log.WriteString("policy disabled: not sent\n")
		return meta.WebhookAttempt{Status: meta.JobStopped, Message: "policy disabled", Log: log.String()}
	}
	st, err := decodeStored(p.Policy)
	if err != nil {
		return giveUp(err.Error())
	}
	if t.Target >= len(st.Targets) {
		return giveUp("the target was removed from the policy")
	}
	target := st.Targets[t.Target]
	x, err := s.opt.Store.WebhookExecution(ctx, t.ExecutionID)
	if err != nil {
		return s.retry(t, &log, 0, "reading the event: "+err.Error())
	}
	var pl Payload
	if err := json.Unmarshal([]byte(x.Payload), &pl); err != nil {
		return giveUp("reading the event: " + err.Error())
	}
	req, err := render(target, pl, delivery{executionID: x.ID, projectID: p.ProjectID, policyID: p.ID})
	if err != nil {
		return giveUp(err.Error())
	}
	secret, err := s.opt.Sealer.Open(p.Secret)
	if err != nil {
		return s.retry(t, &log, 0, "opening the signing secret: "+err.Error())
	}
	extra, err := s.opt.Sealer.Open(target.AuthHeader)
	if err != nil {
		return s.retry(t, &log, 0, "opening the auth header: "+err.Error())
	}
	if t.RunCount == 0 {
		body := req.body
		if len(body) > maxLoggedBody {
			body = body[:maxLoggedBody]
		}
		fmt.Fprintf(&log, "payload: %s\n", body)
	}
	u, err := targetURL(target, extra, now)
	if err != nil {
		return giveUp(err.Error())
	}
	code, answer, elapsed, err := s.post(ctx, target, u, req, secret, extra, t)
	fmt.Fprintf(&log, "POST %s -> ", redactURL(u))
	switch {
	case err != nil:
		return s.retry(t, &log, 0, err.Error())
	case code >= 200 && code < 300:
		fmt.Fprintf(&log, "%d in %s\n", code, elapsed.Round(time.Millisecond))
		return meta.WebhookAttempt{Status: meta.JobSuccess, Code: code, Message: fmt.Sprintf("delivered: %d", code), Log: log.String()}
	}
	return s.retry(t, &log, code, fmt.Sprintf("%d in %s: %s", code, elapsed.Round(time.Millisecond), answer))
}

// retry is a failed attempt: Pending again after a backoff, or Error
// once the retries have lasted RetryFor (a test delivery is not retried).
func (s *Service) retry(t *meta.WebhookTask, log *strings.Builder, code int, msg string) meta.WebhookAttempt {
	log.WriteString(msg + "\n")
	a := meta.WebhookAttempt{Status: meta.JobPending, Code: code, Message: msg}
	if t.Trigger == meta.TriggerManual || time.Since(t.CreatedAt) >= s.opt.RetryFor {
		a.Status = meta.JobError
		log.WriteString("giving up\n")
	} else {
		a.NextAt = time.Now().Add(backoff(t.RunCount, s.opt.RetryMin, s.opt.RetryMax))
		fmt.Fprintf(log, "next attempt at %s\n", a.NextAt.UTC().Format(time.RFC3339))
	}
	a.Log = log.String()
	return a
}

// backoff is the pause after attempt n (0-based): min doubling up to max,
// then ±25 % jitter so that receivers coming back are not hit all at once.
func backoff(n int, lo, hi time.Duration) time.Duration {
	d := hi
	if n < 40 && lo<<n < hi && lo<<n > 0 {
		d = lo << n
	}
	return d - d/4 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// targetURL is the address to post to: for DingTalk, signed with its
// secret when there is one.
func targetURL(t Target, secret string, now time.Time) (*url.URL, error) {
	u, err := url.Parse(t.Address)
	if err != nil {
		return nil, err
	}
	if t.Type == NotifyDingTalk && secret != "" {
		ts := now.UnixMilli()
		q := u.Query()
		q.Set("timestamp", strconv.FormatInt(ts, 10))
		q.Set("sign", DingTalkSign(secret, ts))
		u.RawQuery = q.Encode()
	}
	return u, nil
}

// redactURL is u without its query (DingTalk's access token, signatures).
func redactURL(u *url.URL) string {
	c := *u
	c.RawQuery, c.User = "", nil
	return c.String()
}

// post sends req to u and returns the status, the start of the answer
// and the time taken.
func (s *Service) post(ctx context.Context, t Target, u *url.URL, req request, secret, extra string, task *meta.WebhookTask) (int, string, time.Duration, error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(req.body))
	if err != nil {
		return 0, "", 0, err
	}
	for k, v := range req.header {
		hr.Header[k] = v
	}
	hr.Header.Set("User-Agent", "berth-webhook")
	hr.Header.Set(SignatureHeader, Sign(secret, req.body))
	hr.Header.Set(EventHeader, task.EventType)
	hr.Header.Set(DeliveryHeader, strconv.FormatInt(task.ID, 10))
	if t.Type == NotifyHTTP && extra != "" {
		hr.Header.Set("Authorization", extra) // Harbor's auth_header, verbatim
	}
	client := s.clients[0]
	if t.SkipCertVerify {
		client = s.clients[1]
	}
	start := time.Now()
	resp, err := client.Do(hr)
	if err != nil {
		// Not the *url.Error itself: it quotes the URL, query (a DingTalk
		// access token) and all, into the log and the status message.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, "", time.Since(start), err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	// Drain a little more so the connection can be reused, bounded.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, strings.TrimSpace(string(b)), time.Since(start), nil
}
