package retention

import (
	"fmt"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// bigRepository is n artifacts as a busy repository has them: most with
// one or two tags (dev-, test-, prod- and release tags), some untagged,
// every tenth an index of two children with a signature.
func bigRepository(n int) []Artifact {
	arts := make([]Artifact, 0, n)
	for i := 0; len(arts) < n; i++ {
		a := art(fmt.Sprint("big", i), float64(i%400), float64(i%97)-1, [][]string{
			{fmt.Sprint("dev-", i)}, {fmt.Sprint("test-", i), "latest-test"}, {fmt.Sprint("prod-", i)},
			{fmt.Sprintf("v1.%d.%d", i/100, i%100)}, nil}[i%5]...)
		if i%10 == 0 && len(arts)+4 <= n {
			c1, c2 := art(fmt.Sprint("big", i, "-amd64"), float64(i%400), -1), art(fmt.Sprint("big", i, "-arm64"), float64(i%400), -1)
			sig := art(fmt.Sprint("big", i, "-sig"), float64(i%400), -1)
			a.Children = []digest.Digest{c1.Digest, c2.Digest}
			sig.AccessoryOf = a.Digest
			arts = append(arts, c1, c2, sig)
		}
		arts = append(arts, a)
	}
	return arts
}

func seedsPolicy(t testing.TB) *Policy {
	p := &Policy{Algorithm: Algorithm, Scope: &Scope{Level: ScopeProject, Ref: 1},
		Trigger: &Trigger{Kind: TriggerSchedule, Settings: map[string]any{SettingCron: "0 0 3 * * *"}},
		Rules: []Rule{
			rule(NDaysSinceLastPush, 30, tagSel(Matches, "dev-*", false)),
			rule(LatestPushedK, 3, tagSel(Matches, "test-*", false)),
			rule(Always, 0, tagSel(Matches, "prod-*", false)),
			rule(LatestPulledN, 50, tagSel(Matches, "v*", false)),
			rule(NDaysSinceLastPull, 7, tagSel(Excludes, "{dev-*,test-*,prod-*}", true)),
		}}
	if err := Check(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// BenchmarkEvaluate10000: the evaluation of one repository of 10,000
// artifacts under five rules (the issue asks for less than 5 s).
func BenchmarkEvaluate10000(b *testing.B) {
	arts := bigRepository(10000)
	p := seedsPolicy(b)
	b.ResetTimer()
	for b.Loop() {
		Evaluate(p, "app", arts, now)
	}
}

// TestEvaluate10000 holds the evaluation of 10,000 artifacts, with its
// log table, to well under the 5 s.
func TestEvaluate10000(t *testing.T) {
	arts := bigRepository(10000)
	p := seedsPolicy(t)
	start := time.Now()
	plan := Evaluate(p, "app", arts, now)
	table := plan.Table()
	took := time.Since(start)
	if len(plan.Decisions) != 10000 || len(table) == 0 {
		t.Fatalf("%d decisions", len(plan.Decisions))
	}
	var del, dependents int
	for _, d := range plan.Decisions {
		if d.Verdict == Delete {
			del++
			dependents += len(d.Dependents)
		}
	}
	t.Logf("10,000 artifacts evaluated, table drawn in %v: %d deleted, %d of them accessories and children going with their candidate", took, del, dependents)
	if took > 2*time.Second && !raceDetector {
		t.Errorf("evaluating 10,000 artifacts took %v", took)
	}
}
