package ui

import "testing"

// TestLifecycleTranslations: the texts the lifecycle pages take from
// data (rule templates, job parameters, schedule types) are translated.
func TestLifecycleTranslations(t *testing.T) {
	var keys []string
	for _, x := range retentionTemplates {
		keys = append(keys, x.Label)
	}
	for _, j := range []sysJob{purgeJob, gcJob} {
		keys = append(keys, j.Title)
		for _, f := range j.fields {
			keys = append(keys, f.Label)
		}
	}
	keys = append(keys, scheduleTypes...)
	for _, k := range keys {
		if _, ok := zh[k]; !ok {
			t.Errorf("%q untranslated", k)
		}
	}
}
