package main

// metric describes one reported figure.
type metric struct {
	key, label, unit string
	// higherBetter says which way is good; the ratio is always berth/reference.
	higherBetter bool
	// target is the ratio berth/reference to reach (>= if higherBetter,
	// <= otherwise); 0 means no ratio target.
	target float64
	// absTarget, if not zero, is an absolute bound on berth's value (<=).
	absTarget float64
	// refKey, if set, names the reference figure to compare with (the
	// reference registry is measured without authentication).
	refKey string
}

var metrics = []metric{
	{key: "startup_ms", label: "startup to first 200 on /v2/", unit: "ms", target: 0.7},
	{key: "idle_rss_mib", label: "idle resident memory", unit: "MiB", absTarget: 30},
	{key: "push_stream_MBps", label: "streamed push (one PATCH)", unit: "MB/s", higherBetter: true, target: 1.5},
	{key: "push_chunked_MBps", label: "chunked push (1 MiB chunks)", unit: "MB/s", higherBetter: true},
	{key: "push_small_ops", label: "small blob pushes (4 KiB, c=8)", unit: "blobs/s", higherBetter: true},
	{key: "pull_c16_MBps", label: "blob pull c=16", unit: "MB/s", higherBetter: true, target: 2.5},
	{key: "pull_c16_peak_rss_mib", label: "peak RSS during blob pull c=16", unit: "MiB"},
	{key: "range64k_c16_ops", label: "64 KiB random Range reads c=16", unit: "reads/s", higherBetter: true, target: 2.0},
	{key: "manifest_get_tag_c1_rps", label: "manifest GET by tag c=1", unit: "req/s", higherBetter: true},
	{key: "manifest_get_tag_c16_rps", label: "manifest GET by tag c=16", unit: "req/s", higherBetter: true},
	{key: "manifest_get_tag_c64_rps", label: "manifest GET by tag c=64", unit: "req/s", higherBetter: true},
	{key: "manifest_get_tag_c256_rps", label: "manifest GET by tag c=256", unit: "req/s", higherBetter: true, target: 2.0},
	{key: "manifest_get_tag_c256_p99_ms", label: "manifest GET by tag c=256 p99", unit: "ms"},
	{key: "manifest_get_digest_c1_rps", label: "manifest GET by digest c=1", unit: "req/s", higherBetter: true},
	{key: "manifest_get_digest_c16_rps", label: "manifest GET by digest c=16", unit: "req/s", higherBetter: true},
	{key: "manifest_get_digest_c64_rps", label: "manifest GET by digest c=64", unit: "req/s", higherBetter: true},
	{key: "manifest_get_digest_c256_rps", label: "manifest GET by digest c=256", unit: "req/s", higherBetter: true, target: 2.0},
	{key: "manifest_head_tag_c1_rps", label: "manifest HEAD by tag c=1", unit: "req/s", higherBetter: true},
	{key: "manifest_head_tag_c16_rps", label: "manifest HEAD by tag c=16", unit: "req/s", higherBetter: true},
	{key: "manifest_head_tag_c64_rps", label: "manifest HEAD by tag c=64", unit: "req/s", higherBetter: true},
	{key: "manifest_head_tag_c256_rps", label: "manifest HEAD by tag c=256", unit: "req/s", higherBetter: true},
	{key: "manifest_head_digest_c1_rps", label: "manifest HEAD by digest c=1", unit: "req/s", higherBetter: true},
	{key: "manifest_head_digest_c16_rps", label: "manifest HEAD by digest c=16", unit: "req/s", higherBetter: true},
	{key: "manifest_head_digest_c64_rps", label: "manifest HEAD by digest c=64", unit: "req/s", higherBetter: true},
	{key: "manifest_head_digest_c256_rps", label: "manifest HEAD by digest c=256", unit: "req/s", higherBetter: true},
	{key: "manifest_get_tag_c256_auth_rps", label: "manifest GET by tag c=256, berth with token auth (vs reference without)", unit: "req/s", higherBetter: true, refKey: "manifest_get_tag_c256_rps"},
	{key: "pull_c16_auth_MBps", label: "blob pull c=16, berth with token auth (vs reference without)", unit: "MB/s", higherBetter: true, refKey: "pull_c16_MBps"},
	{key: "manifest_get_tag_c256_metrics_on_rps", label: "manifest GET by tag c=256, berth with --metrics=true (slices alternating with a server with false)", unit: "req/s", higherBetter: true, refKey: "manifest_get_tag_c256_rps"},
	{key: "manifest_get_tag_c256_metrics_off_rps", label: "manifest GET by tag c=256, berth with --metrics=false", unit: "req/s", higherBetter: true, refKey: "manifest_get_tag_c256_rps"},
	{key: "metrics_cost_pct", label: "throughput lost to metrics, manifest GET by tag c=256 (off − on) / off, berth only", unit: "%", absTarget: 3},
	{key: "manifest_get_cpu_us_metrics_on", label: "berth CPU per manifest GET c=256, --metrics=true", unit: "µs"},
	{key: "manifest_get_cpu_us_metrics_off", label: "berth CPU per manifest GET c=256, --metrics=false", unit: "µs"},
	{key: "metrics_cpu_cost_pct", label: "CPU per request added by metrics (on − off) / off, berth only", unit: "%"},
	{key: "token_issue_rps", label: "tokens issued by /service/token (Basic credentials, c=16), berth only", unit: "tokens/s", higherBetter: true},
	{key: "tag_put_rps", label: "tag creation (manifest PUTs re-tagging one repo, c=16)", unit: "tags/s", higherBetter: true, target: 2.0},
	{key: "tags_page_start_ms", label: "tag page of 100 at the start", unit: "ms"},
	{key: "tags_page_middle_ms", label: "tag page of 100 in the middle", unit: "ms"},
	{key: "tags_page_end_ms", label: "tag page of 100 at the end", unit: "ms"},
	{key: "tags_walk_ms", label: "full paged walk of all tags (n=100)", unit: "ms", target: 0.1},
	{key: "tags_unpaged_ms", label: "one unpaged tag list", unit: "ms"},
	{key: "catalog_walk_ms", label: "catalog walk of all repositories (n=100)", unit: "ms"},
	{key: "mixed_ops", label: "mixed load, 200 clients (95% pull, 5% push)", unit: "ops/s", higherBetter: true, target: 3.0},
	{key: "mixed_pull_p50_ms", label: "mixed load pull p50", unit: "ms"},
	{key: "mixed_pull_p99_ms", label: "mixed load pull p99", unit: "ms", target: 0.2},
	{key: "mixed_push_p99_ms", label: "mixed load push p99", unit: "ms"},
	{key: "mixed_errors", label: "mixed load errors", unit: "count"},
	{key: "mixed_peak_rss_mib", label: "peak RSS under the mixed load", unit: "MiB", target: 0.2},
	{key: "restart_ms", label: "restart to first 200 with many manifests stored", unit: "ms"},
}
