package retention

// Metadata is Harbor's RetentionMetadata: the templates and selectors a
// UI offers (GET /retentions/metadatas). Like Harbor, it lists neither
// latestActiveK nor lastXDays, which are accepted all the same.
type Metadata struct {
	Templates      []TemplateMetadata `json:"templates"`
	ScopeSelectors []SelectorMetadata `json:"scope_selectors"`
	TagSelectors   []SelectorMetadata `json:"tag_selectors"`
}

// TemplateMetadata is Harbor's RetentionRuleMetadata.
type TemplateMetadata struct {
	RuleTemplate string          `json:"rule_template"`
	DisplayText  string          `json:"display_text"`
	Action       string          `json:"action"`
	Params       []ParamMetadata `json:"params"`
}

// ParamMetadata is Harbor's RetentionRuleParamMetadata.
type ParamMetadata struct {
	Type     string `json:"type"`
	Unit     string `json:"unit"`
	Required bool   `json:"required"`
}

// SelectorMetadata is Harbor's RetentionSelectorMetadata.
type SelectorMetadata struct {
	DisplayText string   `json:"display_text"`
	Kind        string   `json:"kind"`
	Decorations []string `json:"decorations"`
}

// TheMetadata returns Harbor's payload (src/server/v2.0/handler/retention.go).
func TheMetadata() Metadata {
	count := []ParamMetadata{{Type: "int", Unit: "COUNT", Required: true}}
	days := []ParamMetadata{{Type: "int", Unit: "DAYS", Required: true}}
	return Metadata{
		Templates: []TemplateMetadata{
			{RuleTemplate: LatestPushedK, DisplayText: "the most recently pushed # artifacts", Action: ActionRetain, Params: count},
			{RuleTemplate: LatestPulledN, DisplayText: "the most recently pulled # artifacts", Action: ActionRetain, Params: count},
			{RuleTemplate: NDaysSinceLastPush, DisplayText: "pushed within the last # days", Action: ActionRetain, Params: days},
			{RuleTemplate: NDaysSinceLastPull, DisplayText: "pulled within the last # days", Action: ActionRetain, Params: days},
			{RuleTemplate: Always, DisplayText: "always", Action: ActionRetain, Params: []ParamMetadata{}},
		},
		ScopeSelectors: []SelectorMetadata{{DisplayText: "Repositories", Kind: Kind, Decorations: []string{RepoMatches, RepoExcludes}}},
		TagSelectors:   []SelectorMetadata{{DisplayText: "Tags", Kind: Kind, Decorations: []string{Matches, Excludes}}},
	}
}
