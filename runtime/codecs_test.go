package runtime

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"testing"
)

// The hand-written codecs must agree with encoding/json, which is what a
// reader of the stored JSON (or a JSONCodec field) uses.

func TestStringCodecMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `quote " backslash \ slash /`, "nl \n cr \r tab \t", "nul \x00 bell \x07 esc \x1b del \x7f",
		"naïve ☃ 𝄞", "bad utf8 \xff\xfe end", "line sep \u2028 para \u2029", "<b>&amp;</b>"} {
		got, _ := StringCodec.Encode(s)
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		enc.Encode(s)
		if string(got) != string(bytes.TrimSuffix(want.Bytes(), []byte("\n"))) {
			t.Errorf("encode %q = %s, encoding/json says %s", s, got, want.Bytes())
		}
		back, err := StringCodec.Decode(got)
		var jsonBack string
		json.Unmarshal(got, &jsonBack)
		if err != nil || back != jsonBack {
			t.Errorf("decode %s = %q (%v), encoding/json says %q", got, back, err, jsonBack)
		}
	}
	for _, bad := range []string{`1`, `"unterminated`, `["a"]`} {
		if _, err := StringCodec.Decode([]byte(bad)); err == nil {
			t.Errorf("decode %s: no error", bad)
		}
	}
}

func TestNumberCodecsMatchEncodingJSON(t *testing.T) {
	for _, f := range []float64{0, 1, -1, 0.5, 3.25, 1e20, 1e21, 1.5e21, 1e-6, 1e-7, 1.25e-9, -2.5e-300, math.MaxFloat64, math.SmallestNonzeroFloat64, 123456789.125} {
		got, err := Float64Codec.Encode(f)
		want, _ := json.Marshal(f)
		if err != nil || string(got) != string(want) {
			t.Errorf("encode %v = %s (%v), encoding/json says %s", f, got, err, want)
		}
		if back, err := Float64Codec.Decode(got); err != nil || back != f {
			t.Errorf("decode %s = %v (%v), want %v", got, back, err, f)
		}
	}
	if _, err := Float64Codec.Encode(math.NaN()); err == nil {
		t.Error("NaN encoded")
	}
	for _, n := range []int64{0, 1, -1, math.MaxInt64, math.MinInt64} {
		got, _ := Int64Codec.Encode(n)
		want, _ := json.Marshal(n)
		if string(got) != string(want) {
			t.Errorf("encode %d = %s, want %s", n, got, want)
		}
		if back, err := Int64Codec.Decode(got); err != nil || back != n {
			t.Errorf("decode %s = %d (%v)", got, back, err)
		}
	}
	for _, bad := range []string{`1.5`, `1e3`, `"1"`, `99999999999999999999`} {
		if _, err := IntCodec.Decode([]byte(bad)); err == nil {
			t.Errorf("int decode %s: no error", bad)
		}
	}
	for _, bad := range []string{`"1"`, `true`} {
		if _, err := Float64Codec.Decode([]byte(bad)); err == nil {
			t.Errorf("float decode %s: no error", bad)
		}
	}
	for in, want := range map[string]bool{"true": true, "false": false} {
		if got, err := BoolCodec.Decode([]byte(in)); err != nil || got != want {
			t.Errorf("bool decode %s = %v (%v)", in, got, err)
		}
	}
	if _, err := BoolCodec.Decode([]byte(`1`)); err == nil {
		t.Error("bool decode 1: no error")
	}
	// null is the zero value, as encoding/json has it (Python writes None).
	if s, err := StringCodec.Decode([]byte(`null`)); s != "" || err != nil {
		t.Errorf("string null = %q, %v", s, err)
	}
	if n, err := IntCodec.Decode([]byte(`null`)); n != 0 || err != nil {
		t.Errorf("int null = %d, %v", n, err)
	}
	if f, err := Float64Codec.Decode([]byte(`null`)); f != 0 || err != nil {
		t.Errorf("float null = %v, %v", f, err)
	}
	if b, err := BoolCodec.Decode([]byte(`null`)); b || err != nil {
		t.Errorf("bool null = %v, %v", b, err)
	}
}

func FuzzStringCodec(f *testing.F) {
	f.Add("hello")
	f.Add("\x00\xff\u2028\"\\")
	f.Fuzz(func(t *testing.T, s string) {
		got, _ := StringCodec.Encode(s)
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		enc.Encode(s)
		if string(got) != string(bytes.TrimSuffix(want.Bytes(), []byte("\n"))) {
			t.Fatalf("encode %q = %s, encoding/json says %s", s, got, want.Bytes())
		}
		var jsonBack string
		json.Unmarshal(got, &jsonBack)
		if back, err := StringCodec.Decode(got); err != nil || back != jsonBack {
			t.Fatalf("decode %s = %q (%v), encoding/json says %q", got, back, err, jsonBack)
		}
	})
}

func TestNamedAndSizedCodecsMatchEncodingJSON(t *testing.T) {
	type class string
	check := func(name string, got []byte, err error, v any) {
		t.Helper()
		want, _ := json.Marshal(v)
		if err != nil || string(got) != string(want) {
			t.Errorf("%s: encode %v = %s (%v), encoding/json says %s", name, v, got, err, want)
		}
	}
	for _, f := range []float32{0, 1.1, 3.4e38, 1e-7, 1e21, -0.3} {
		got, err := FloatOf[float32]().Encode(f)
		check("float32", got, err, f)
		if back, err := FloatOf[float32]().Decode(got); err != nil || back != f {
			t.Errorf("float32 decode %s = %v (%v), want %v", got, back, err, f)
		}
	}
	got, err := StringOf[class]().Encode("/feature")
	check("named string", got, err, class("/feature"))
	if c, err := StringOf[class]().Decode(got); err != nil || c != "/feature" {
		t.Errorf("named string decode: %q, %v", c, err)
	}
	got, err = UintOf[uint8]().Encode(255)
	check("uint8", got, err, uint8(255))
	if _, err := UintOf[uint8]().Decode([]byte("256")); err == nil {
		t.Error("uint8 decode 256: no overflow error")
	}
	if _, err := IntOf[int8]().Decode([]byte("-129")); err == nil {
		t.Error("int8 decode -129: no overflow error")
	}
	if _, err := UintOf[uint]().Decode([]byte("-1")); err == nil {
		t.Error("uint decode -1: no error")
	}
}

func TestStringsCodecMatchesEncodingJSON(t *testing.T) {
	for _, v := range [][]string{nil, {}, {""}, {"plain"}, {"a", "b", "c"}, {`quote " and \ backslash`, "nl \n", "naïve ☃", "bad \xff", "sep \u2028", "<b>"}} {
		got, err := StringsCodec.Encode(v)
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		enc.Encode(v)
		if err != nil || string(got) != string(bytes.TrimSuffix(want.Bytes(), []byte("\n"))) {
			t.Errorf("encode %q = %s (%v), encoding/json says %s", v, got, err, want.Bytes())
		}
	}
	for _, in := range []string{`null`, `[]`, `[""]`, `["a","b"]`, `[ "a" , "b" ]`, `["a\"b","\u00e9"]`, `["a",null]`, "[\"\xff\"]",
		`["a",]`, `[,"a"]`, `["a""b"]`, `["a"`, `"a"`, `[1]`, `{}`, ``, `[`, `]`} {
		var want []string
		wantErr := json.Unmarshal([]byte(in), &want)
		got, err := StringsCodec.Decode([]byte(in))
		if (err != nil) != (wantErr != nil) || (wantErr == nil && (!slices.Equal(got, want) || (got == nil) != (want == nil))) {
			t.Errorf("decode %s = %#v (%v), encoding/json says %#v (%v)", in, got, err, want, wantErr)
		}
	}
	// What a caller gets from Clone is its own.
	v := []string{"a"}
	c := StringsCodec.Clone(v)
	c[0] = "b"
	if v[0] != "a" {
		t.Error("Clone shares the slice")
	}
}

func FuzzStringsCodec(f *testing.F) {
	f.Add(`["a","b"]`)
	f.Add(`[ "a\n", null ]`)
	f.Fuzz(func(t *testing.T, in string) {
		var want []string
		wantErr := json.Unmarshal([]byte(in), &want)
		got, err := StringsCodec.Decode([]byte(in))
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("decode %q: error %v, encoding/json's %v", in, err, wantErr)
		}
		if wantErr == nil && (!slices.Equal(got, want) || (got == nil) != (want == nil)) {
			t.Fatalf("decode %q = %#v, encoding/json says %#v", in, got, want)
		}
	})
}
