package ui

import (
	"net/http"
	"net/url"
	"strings"
)

// webhooks: GET /projects/{p}/webhooks: the project's webhook policies
// (Harbor's /projects/{p}/webhook/policies), the latest deliveries of one
// (?policy=ID) and the form for a new one, offering the event and notify
// types the API says it supports.
func (s *Server) webhooks(p *page) error {
	proj, ps, err := p.projectCtx()
	if err != nil {
		return err
	}
	api := webhookAPI(p)
	var l list
	h, err := p.get(api+"/policies", p.listQ(), &l)
	if err != nil {
		return err
	}
	var supported obj
	if ps.Can("notification-policy", "create") {
		if _, err := p.get(api+"/events", nil, &supported); err != nil {
			return err
		}
	}
	data := obj{"project": proj, "perms": ps, "tab": "webhooks", "policies": l, "pager": p.pager(h, p.pageNum()),
		"supported": supported}
	if id := p.r.URL.Query().Get("policy"); id != "" {
		var runs list
		q := url.Values{"page": {"1"}, "page_size": {"20"}, "sort": {"-id"}}
		if _, err := p.get(api+"/policies/"+url.PathEscape(id)+"/executions", q, &runs); err != nil {
			return err
		}
		data["policy"], data["runs"] = id, runs
	}
	return p.show("webhooks", p.r.PathValue("p"), "projects", data)
}

func webhookAPI(p *page) string { return projectURL(p.r.PathValue("p")) + "/webhook" }

// createWebhook: POST /projects/{p}/webhooks (name, address, notify type,
// payload format, auth header, event types, skip certificate check).
func (s *Server) createWebhook(p *page) error {
	to := projectURL(p.r.PathValue("p")) + "/webhooks"
	f := p.r.PostForm
	target := obj{"type": f.Get("notify_type"), "address": strings.TrimSpace(f.Get("address")),
		"skip_cert_verify": f.Get("skip_cert_verify") == "on"}
	if f.Get("notify_type") == "http" { // the formats offered are http's; the other types take their default or none
		target["payload_format"] = f.Get("payload_format")
	}
	if v := f.Get("auth_header"); v != "" {
		target["auth_header"] = v
	}
	events := f["event_type"]
	if len(events) == 0 {
		return p.done(to, "Choose at least one event type.")
	}
	body := obj{"name": strings.TrimSpace(f.Get("name")), "description": f.Get("description"),
		"targets": []obj{target}, "event_types": events, "enabled": true}
	if _, err := p.call(http.MethodPost, webhookAPI(p)+"/policies", body, nil); err != nil {
		return p.back(to, err)
	}
	return p.done(to, "Webhook created.")
}

// changeWebhook: POST /projects/{p}/webhooks/{id}: action=toggle enables
// or disables the policy (Harbor's PUT takes the whole policy), action=
// delete removes it, action=test sends a sample event (berth's .../test)
// and shows the policy's deliveries.
func (s *Server) changeWebhook(p *page) error {
	to := projectURL(p.r.PathValue("p")) + "/webhooks"
	api := webhookAPI(p) + "/policies/" + url.PathEscape(p.r.PathValue("id"))
	switch p.r.PostForm.Get("action") {
	case "delete":
		if _, err := p.call(http.MethodDelete, api, nil, nil); err != nil {
			return p.back(to, err)
		}
		return p.done(to, "Webhook deleted.")
	case "test":
		if _, err := p.call(http.MethodPost, api+"/test", nil, nil); err != nil {
			return p.back(to, err)
		}
		return p.done(to+"?policy="+url.QueryEscape(p.r.PathValue("id"))+"#deliveries", "Test event sent.")
	}
	var policy obj
	if _, err := p.get(api, nil, &policy); err != nil {
		return p.back(to, err)
	}
	enabled, _ := policy["enabled"].(bool)
	policy["enabled"] = !enabled
	if _, err := p.call(http.MethodPut, api, policy, nil); err != nil {
		return p.back(to, err)
	}
	if enabled {
		return p.done(to, "Webhook disabled.")
	}
	return p.done(to, "Webhook enabled.")
}
