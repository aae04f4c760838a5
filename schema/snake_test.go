package schema

import "testing"

func TestSnakeCase(t *testing.T) {
	tests := []struct{ in, want string }{
		// The DESIGN examples.
		{"IssueNumber", "issue_number"},
		{"PlanURL", "plan_url"},
		{"ADWID", "adw_id"},
		{"AllADWs", "all_adws"},
		{"BranchName", "branch_name"},
		{"IssueClass", "issue_class"},
		{"ModelSet", "model_set"},
		{"Token", "token"},
		{"BackendPort", "backend_port"},

		// Single words and letters.
		{"A", "a"},
		{"a", "a"},
		{"Name", "name"},
		{"ID", "id"},
		{"URL", "url"},
		{"", ""},

		// Lower-case start (unexported-style names).
		{"userName", "user_name"},
		{"userID", "user_id"},
		{"x", "x"},

		// A run of capitals before lower-case letters: the last capital
		// starts the next word.
		{"HTTPServer", "http_server"},
		{"ADWState", "adw_state"},
		{"APIKey", "api_key"},
		{"JSONData", "json_data"},
		{"IPv6Addr", "i_pv6_addr"},
		{"XMLHTTPRequest", "xml_http_request"},
		{"AIsystem", "a_isystem"},

		// Plural initialisms stay one word.
		{"URLs", "urls"},
		{"IDs", "ids"},
		{"ADWs", "adws"},
		{"IDsByName", "ids_by_name"},
		{"AllURLsSeen", "all_urls_seen"},
		{"ADWIDs", "adw_ids"},
		{"PRs2", "prs2"},
		{"IDs_Seen", "ids_seen"},
		{"As", "as"},
		{"IDsum", "i_dsum"}, // 's' followed by lower-case: not a plural

		// Known initialisms ending a longer run of capitals.
		{"HTTPURLParser", "http_url_parser"},
		{"HTTPSURL", "https_url"},
		{"APIID", "api_id"},
		{"HTTPURLID", "http_url_id"},
		{"ADWIDState", "adw_id_state"},
		{"UUID", "uuid"}, // a known initialism as a whole is not split
		{"GUID", "guid"},
		{"PID", "pid"},     // "P" is too short to split off
		{"ABCDE", "abcde"}, // no known initialism: one word

		// Digits stay with the word before them.
		{"V2Config", "v2_config"},
		{"Field1", "field1"},
		{"Field12Name", "field12_name"},
		{"HTTP2Server", "http2_server"},
		{"Base64URL", "base64_url"},
		{"S3Bucket", "s3_bucket"},
		{"ID2", "id2"},
		{"V2beta", "v2beta"},
		{"MP3player", "mp3player"},
		{"x1Y2", "x1_y2"},

		// Underscores separate words and are never doubled.
		{"Issue_Number", "issue_number"},
		{"issue_number", "issue_number"},
		{"Issue__Number_", "issue_number"},
		{"_x", "x"},
		{"ID_URL", "id_url"},

		// Non-ASCII letters (Type.Check refuses the resulting key).
		{"ÄrgerLevel", "ärger_level"},
	}
	for _, tt := range tests {
		if got := SnakeCase(tt.in); got != tt.want {
			t.Errorf("SnakeCase(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
