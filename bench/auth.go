package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
)

// authWorkloads repeats the manifest GET (c=256) and blob pull (c=16)
// workloads on a berth with access control, through the Docker token flow:
// what a token check costs on the hot paths.
func authWorkloads(ctx context.Context, s *server, z sizes, out results) error {
	admin := newClient(s.url, 256)
	defer admin.close()
	admin.authorization = "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+benchAdminPassword))
	img, err := admin.pushImage(ctx, "library/bench", "latest", 1, 4096)
	if err != nil {
		return err
	}
	blob := randomBytes(z.pullBlobBytes)
	pd, err := admin.pushBlob(ctx, "library/bench", blob)
	if err != nil {
		return err
	}
	// A token for pulling, as a runtime gets one.
	_, body, err := admin.get(ctx, "/service/token?service=berth&scope=repository:library/bench:pull")
	if err != nil {
		return err
	}
	var tok struct{ Token string }
	if err := json.Unmarshal(body, &tok); err != nil || tok.Token == "" {
		return fmt.Errorf("token response %q: %v", body, err)
	}
	c := newClient(s.url, 256)
	defer c.close()
	c.authorization = "Bearer " + tok.Token
	r := runLoad(ctx, 256, z.loadDur, maxOps, func(ctx context.Context, _ int, _ int64) (int64, error) {
		_, n, err := c.do(ctx, "GET", "/v2/library/bench/manifests/"+img.tag, nil, 0, http.StatusOK, "Accept", mtManifest)
		return n, err
	})
	if r.firstErr != nil {
		return fmt.Errorf("manifest GET with a token: %w", r.firstErr)
	}
	out["manifest_get_tag_c256_auth_rps"] = r.opsPerSec()
	r = runLoad(ctx, 16, z.loadDur, maxOps, func(ctx context.Context, _ int, _ int64) (int64, error) {
		_, n, err := c.do(ctx, "GET", "/v2/library/bench/blobs/"+string(pd), nil, 0, http.StatusOK)
		return n, err
	})
	if r.firstErr != nil {
		return fmt.Errorf("pull with a token: %w", r.firstErr)
	}
	out["pull_c16_auth_MBps"] = r.mbPerSec()
	// Issuing tokens: Basic credentials checked (bcrypt, then the cache)
	// and a token signed per request.
	r = runLoad(ctx, 16, z.loadDur, maxOps, func(ctx context.Context, _ int, _ int64) (int64, error) {
		_, _, err := admin.get(ctx, "/service/token?service=berth&scope=repository:library/bench:pull,push")
		return 0, err
	})
	if r.firstErr != nil {
		return fmt.Errorf("token issuing: %w", r.firstErr)
	}
	out["token_issue_rps"] = r.opsPerSec()
	return nil
}
