package schema_test

import (
	"fmt"
	"reflect"

	"github.com/stategen/stategen/schema"
)

func ExampleParseTag() {
	type ADWState struct {
		ADWID    string   `state:"adw_id,required"`
		ModelSet string   `state:"model_set,default=\"base\""`
		Tags     []string `state:",secret,default=[\"a\",\"b\"]"`
		Cache    []byte   `state:"-"`
	}
	st := reflect.TypeFor[ADWState]()
	for i := range st.NumField() {
		f := st.Field(i)
		tag, err := schema.ParseTag(f.Tag.Get("state"))
		if err != nil {
			fmt.Println(f.Name, "error:", err)
			continue
		}
		if tag.Skip {
			fmt.Println(f.Name, "not persisted")
			continue
		}
		key := tag.Key
		if key == "" {
			key = schema.SnakeCase(f.Name)
		}
		fmt.Printf("%s key=%s required=%v secret=%v default=%s\n", f.Name, key, tag.Required, tag.Secret, tag.Default)
	}

	_, err := schema.ParseTag(`issue_number,reqired`)
	fmt.Println(err)
	_, err = schema.ParseTag(`tags,default=["a"],secret`)
	fmt.Println(err)
	// Output:
	// ADWID key=adw_id required=true secret=false default=
	// ModelSet key=model_set required=false secret=false default="base"
	// Tags key=tags required=false secret=true default=["a","b"]
	// Cache not persisted
	// unknown option `reqired` (did you mean "required"?): the known options are required, secret, nullzero and default=JSON
	// default value `["a"],secret` is not valid JSON (invalid character ',' after top-level value): default= must be the last option, as it takes the rest of the tag: move `secret` before default=
}

func ExampleSnakeCase() {
	for _, name := range []string{"IssueNumber", "PlanURL", "ADWID", "AllADWs", "HTTPServer", "V2Config", "IPv6Addr"} {
		fmt.Println(name, "→", schema.SnakeCase(name))
	}
	// Output:
	// IssueNumber → issue_number
	// PlanURL → plan_url
	// ADWID → adw_id
	// AllADWs → all_adws
	// HTTPServer → http_server
	// V2Config → v2_config
	// IPv6Addr → i_pv6_addr
}
