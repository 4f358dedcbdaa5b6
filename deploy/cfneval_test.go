package deploy

import (
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// noValue is what AWS::NoValue evaluates to: the list item or map key holding it disappears.
type noValueT struct{}

var noValue noValueT

// cfnStack evaluates the template's intrinsic functions for a set of parameter values, as
// CloudFormation does when it creates the stack: enough of them (Ref, GetAtt, If, Equals, Not, And,
// Or, Condition, Select, Split, Join, Sub) to compute what a resource will really get. Both branches
// of an Fn::If are evaluated, so a Select out of range in the branch not taken fails too: whether
// CloudFormation evaluates it is not something to depend on.
type cfnStack struct {
	tpl    template
	params map[string]string
}

// newStack fills the parameters not given with their defaults, and fails on a name the template
// doesn't declare or a value its AllowedPattern refuses.
func newStack(t *testing.T, tpl template, given map[string]string) *cfnStack {
	t.Helper()
	s := &cfnStack{tpl: tpl, params: map[string]string{}}
	for name, p := range tpl.Parameters {
		if d, ok := p["Default"]; ok {
			s.params[name] = fmt.Sprint(d)
		}
	}
	for name, v := range given {
		p, ok := tpl.Parameters[name]
		if !ok {
			t.Fatalf("the template has no parameter %s", name)
		}
		if pattern, ok := p["AllowedPattern"].(string); ok && !regexp.MustCompile(pattern).MatchString(v) {
			t.Fatalf("parameter %s=%q does not match its AllowedPattern %s", name, v, pattern)
		}
		s.params[name] = v
	}
	return s
}

// condition evaluates a named condition.
func (s *cfnStack) condition(name string) (bool, error) {
	c, ok := s.tpl.Conditions[name]
	if !ok {
		return false, fmt.Errorf("no condition %s", name)
	}
	v, err := s.eval(c)
	if err != nil {
		return false, fmt.Errorf("condition %s: %w", name, err)
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("condition %s is %v, not a boolean", name, v)
	}
	return b, nil
}

// resource evaluates a resource's properties; a resource whose condition is false evaluates to nil.
func (s *cfnStack) resource(t *testing.T, name string) map[string]any {
	t.Helper()
	r, ok := s.tpl.Resources[name]
	if !ok {
		t.Fatalf("no resource %s", name)
	}
	if r.Condition != "" {
		if on, err := s.condition(r.Condition); err != nil {
			t.Fatal(err)
		} else if !on {
			return nil
		}
	}
	v, err := s.eval(r.Properties)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v.(map[string]any)
}

var subVariable = regexp.MustCompile(`\$\{([^}]*)\}`)

func (s *cfnStack) eval(v any) (any, error) {
	switch v := v.(type) {
	case []any:
		out := []any{}
		for _, x := range v {
			e, err := s.eval(x)
			if err != nil {
				return nil, err
			}
			if e != noValue {
				out = append(out, e)
			}
		}
		return out, nil
	case map[string]any:
		if len(v) == 1 {
			for fn, arg := range v {
				if fn == "Ref" || fn == "Condition" || strings.HasPrefix(fn, "Fn::") {
					return s.function(fn, arg)
				}
			}
		}
		out := map[string]any{}
		for k, x := range v {
			e, err := s.eval(x)
			if err != nil {
				return nil, err
			}
			if e != noValue {
				out[k] = e
			}
		}
		return out, nil
	default:
		return v, nil
	}
}

func (s *cfnStack) ref(name string) (any, error) {
	switch name {
	case "AWS::NoValue":
		return noValue, nil
	case "AWS::Region":
		return "us-east-1", nil
	case "AWS::AccountId":
		return "123456789012", nil
	case "AWS::Partition":
		return "aws", nil
	case "AWS::StackName":
		return "dispatch", nil
	}
	if p, ok := s.tpl.Parameters[name]; ok {
		v, set := s.params[name]
		if !set {
			return nil, fmt.Errorf("parameter %s has no value and no default", name)
		}
		if p["Type"] == "CommaDelimitedList" {
			var l []any
			for _, x := range strings.Split(v, ",") {
				l = append(l, x)
			}
			return l, nil
		}
		return v, nil
	}
	if _, ok := s.tpl.Resources[name]; ok {
		return "ref:" + name, nil
	}
	return nil, fmt.Errorf("Ref to undefined %s", name)
}

func (s *cfnStack) function(fn string, arg any) (any, error) {
	args := func(n int) ([]any, error) {
		l, ok := arg.([]any)
		if !ok || len(l) != n {
			return nil, fmt.Errorf("%s takes %d arguments: %v", fn, n, arg)
		}
		return l, nil
	}
	str := func(x any) (string, error) {
		e, err := s.eval(x)
		if err != nil {
			return "", err
		}
		v, ok := e.(string)
		if !ok {
			return "", fmt.Errorf("%s: %v is not a string", fn, e)
		}
		return v, nil
	}
	boolean := func(x any) (bool, error) {
		e, err := s.eval(x)
		if err != nil {
			return false, err
		}
		v, ok := e.(bool)
		if !ok {
			return false, fmt.Errorf("%s: %v is not a boolean", fn, e)
		}
		return v, nil
	}
	switch fn {
	case "Ref":
		return s.ref(fmt.Sprint(arg))
	case "Condition":
		return s.condition(fmt.Sprint(arg))
	case "Fn::GetAtt":
		l, err := args(2)
		if err != nil {
			return nil, err
		}
		return fmt.Sprintf("getatt:%v.%v", l[0], l[1]), nil
	case "Fn::If":
		l, err := args(3)
		if err != nil {
			return nil, err
		}
		on, err := s.condition(fmt.Sprint(l[0]))
		if err != nil {
			return nil, err
		}
		yes, err := s.eval(l[1])
		if err != nil {
			return nil, fmt.Errorf("Fn::If %v, true branch: %w", l[0], err)
		}
		no, err := s.eval(l[2])
		if err != nil {
			return nil, fmt.Errorf("Fn::If %v, false branch: %w", l[0], err)
		}
		if on {
			return yes, nil
		}
		return no, nil
	case "Fn::Equals":
		l, err := args(2)
		if err != nil {
			return nil, err
		}
		a, err := s.eval(l[0])
		if err != nil {
			return nil, err
		}
		b, err := s.eval(l[1])
		if err != nil {
			return nil, err
		}
		return reflect.DeepEqual(a, b), nil
	case "Fn::Not":
		l, err := args(1)
		if err != nil {
			return nil, err
		}
		b, err := boolean(l[0])
		return !b, err
	case "Fn::And", "Fn::Or":
		l, ok := arg.([]any)
		if !ok || len(l) < 2 {
			return nil, fmt.Errorf("%s takes a list of 2 or more conditions: %v", fn, arg)
		}
		all, some := true, false
		for _, x := range l {
			b, err := boolean(x)
			if err != nil {
				return nil, err
			}
			all, some = all && b, some || b
		}
		if fn == "Fn::And" {
			return all, nil
		}
		return some, nil
	case "Fn::Select":
		l, err := args(2)
		if err != nil {
			return nil, err
		}
		i, err := strconv.Atoi(fmt.Sprint(l[0]))
		if err != nil {
			return nil, fmt.Errorf("Fn::Select index %v: %w", l[0], err)
		}
		e, err := s.eval(l[1])
		if err != nil {
			return nil, err
		}
		list, ok := e.([]any)
		if !ok {
			return nil, fmt.Errorf("Fn::Select from %v, not a list", e)
		}
		if i < 0 || i >= len(list) {
			return nil, fmt.Errorf("Fn::Select index %d out of range of %q", i, list)
		}
		return list[i], nil
	case "Fn::Split", "Fn::Join": // [delimiter, what]
		l, err := args(2)
		if err != nil {
			return nil, err
		}
		sep, err := str(l[0])
		if err != nil {
			return nil, err
		}
		e, err := s.eval(l[1])
		if err != nil {
			return nil, err
		}
		if fn == "Fn::Split" {
			v, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("Fn::Split of %v, not a string", e)
			}
			var out []any
			for _, p := range strings.Split(v, sep) {
				out = append(out, p)
			}
			return out, nil
		}
		list, ok := e.([]any)
		if !ok {
			return nil, fmt.Errorf("Fn::Join of %v, not a list", e)
		}
		parts := make([]string, len(list))
		for i, x := range list {
			parts[i] = fmt.Sprint(x)
		}
		return strings.Join(parts, sep), nil
	case "Fn::Sub":
		text, vars := "", map[string]any{}
		switch a := arg.(type) {
		case string:
			text = a
		case []any:
			if len(a) != 2 {
				return nil, fmt.Errorf("Fn::Sub takes a string or [string, variables]: %v", arg)
			}
			text, _ = a[0].(string)
			m, _ := a[1].(map[string]any)
			for k, x := range m {
				e, err := s.eval(x)
				if err != nil {
					return nil, err
				}
				vars[k] = e
			}
		}
		var failed error
		out := subVariable.ReplaceAllStringFunc(text, func(m string) string {
			name := m[2 : len(m)-1]
			if strings.HasPrefix(name, "!") {
				return "${" + name[1:] + "}"
			}
			if v, ok := vars[name]; ok {
				return fmt.Sprint(v)
			}
			if res, attr, isAtt := strings.Cut(name, "."); isAtt {
				return fmt.Sprintf("getatt:%s.%s", res, attr)
			}
			v, err := s.ref(name)
			if err != nil {
				failed = err
			}
			return fmt.Sprint(v)
		})
		return out, failed
	}
	return nil, fmt.Errorf("the evaluator doesn't know %s", fn)
}

// TestStackEvaluator checks the evaluator on the functions the ECS settings depend on.
func TestStackEvaluator(t *testing.T) {
	tpl := template{
		Parameters: map[string]map[string]any{"P": {"Type": "String", "Default": "a=1;b=2"}},
		Conditions: map[string]any{"On": map[string]any{"Fn::Equals": []any{"x", "x"}}},
	}
	s := newStack(t, tpl, nil)
	for _, c := range []struct {
		expr any
		want any
	}{
		{map[string]any{"Fn::Select": []any{1.0, map[string]any{"Fn::Split": []any{";", map[string]any{"Ref": "P"}}}}}, "b=2"},
		{map[string]any{"Fn::Sub": []any{"${X}=", map[string]any{"X": map[string]any{"Ref": "P"}}}}, "a=1;b=2="},
		{map[string]any{"Fn::Sub": "${P}${!Literal}${AWS::Region}"}, "a=1;b=2${Literal}us-east-1"},
		{map[string]any{"Fn::Join": []any{"-", []any{"a", map[string]any{"Ref": "AWS::NoValue"}, "b"}}}, "a-b"},
		{map[string]any{"Fn::If": []any{"On", "yes", "no"}}, "yes"},
		{map[string]any{"Fn::Not": []any{map[string]any{"Condition": "On"}}}, false},
		{map[string]any{"Fn::Or": []any{false, map[string]any{"Condition": "On"}}}, true},
		{[]any{"a", map[string]any{"Fn::If": []any{"On", map[string]any{"Ref": "AWS::NoValue"}, "c"}}}, []any{"a"}},
	} {
		got, err := s.eval(c.expr)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%v = %v, %v; want %v", c.expr, got, err, c.want)
		}
	}
	// Out of range, even in the branch not taken.
	bad := map[string]any{"Fn::If": []any{"On", "fine", map[string]any{"Fn::Select": []any{2.0, []any{"a"}}}}}
	if _, err := s.eval(bad); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("an out-of-range Select in the branch not taken: %v, want an error", err)
	}
}
