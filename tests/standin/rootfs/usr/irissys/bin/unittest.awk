# The stand-in's model of %UnitTest (test infrastructure only; busybox awk, loaded after
# model.awk and before session.awk). Enough of %UnitTest.Manager to test iris-envs' plumbing:
# run the Test* methods of a loaded class, record each $$$Assert* macro's outcome in the
# documented result tables, answer the SQL iris-envs reads them with. Each rule cites its source;
# tests/standin/README.md lists them.
#
# Sources:
# - CLASSREF-MGR: class reference %UnitTest.Manager (2024.1; caretdev/docs-intersystems
#   ref/2024.1/%UnitTest/Manager.cls).
# - CLASSREF-TC: class reference %UnitTest.TestCase (same mirror).
# - CLASSREF-RESULT: class reference %UnitTest.Result.TestInstance/TestSuite/TestCase/TestMethod/
#   TestAssert (same mirror): their properties and the Status VALUELIST ",0,1,2" =
#   failed/passed/skipped.
# - GUNITTEST_create: "Creating Test Cases" (IRIS 2025.2 docs): Test methods run in
#   alphabetical order; the $$$AssertX macros and their arguments.
# - GUNITTEST_results: "Viewing %UnitTest Results": Action is the macro name without $$$,
#   Description the test_description argument or, when none was passed, "the string
#   representation of the first argument"; Location is label[+offset]^[|"ns"|]doc.ext.
# - IPM-ABSTRACT: intersystems/ipm src/cls/IPM/Test/Abstract.cls (BuildResultTree, InterSystems'
#   own code): a case failed only by its methods carries the text "There are failed
#   TestMethods" and no error category; hooks and thrown errors set both.
# - TESTINGMANAGER: intersystems-community/intersystems-testingmanager BaseManager.cls: an
#   assert's label+offset counts from the line before a method's "{" (its signature); its copy
#   of %UnitTest.Manager.LogAssert records nothing when there is no current test method.
# - IPM-HOOKS: intersystems/ipm tests/integration_tests/.../test-output-format (InterSystems'
#   own test data): "OnBeforeAllTests returning an error status; no test methods run",
#   "OnAfterAllTests throwing; all test methods run first".
#
# Not modelled: RunTest, loading from ^UnitTestRoot, OnBeforeOneTest/OnAfterOneTest, $$$LogMessage,
# $$$AssertFilesSame and friends, process-value checks, the console log.
#
# Results are records in the namespace's globals database (^UnitTest.Result is a global of the
# namespace, CLASSREF-MGR "^|ns|UnitTest.Result"), one per row of the result tables, fields
# separated by tabs:
#   STANDIN-UT TestInstance <id>
#   STANDIN-UT TestSuite    <id> <suite> <status> <duration> <errorAction> <errorDescription>
#   STANDIN-UT TestCase     <id> <suite> <case> <status> <duration> <errorAction> <errorDescription>
#   STANDIN-UT TestMethod   <id> <suite> <case> <method> <status> <duration> <errorAction> <errorDescription>
#   STANDIN-UT TestAssert   <id> <suite> <case> <method> <counter> <status> <action> <description> <location>

# ---------------------------------------------------------------- class source

# A loaded class's source, as the model saved it (STANDIN-SRC <class> <n> <text>; a new load
# starts again at line 1): UT_SRC[1..n]; returns n.
function ut_source(cls,    dir, recs, n, i, rest, sp, num, total) {
    dir = class_dir(ns, cls)
    n = db_records(dir, recs)
    total = 0
    for (i = 1; i <= n; i++) {
        if (substr(recs[i], 1, 12 + length(cls) + 1) != "STANDIN-SRC " cls " ") continue
        rest = substr(recs[i], 12 + length(cls) + 2)
        sp = index(rest, " ")
        num = substr(rest, 1, sp - 1) + 0
        if (num == 1) total = 0
        UT_SRC[num] = substr(rest, sp + 1)
        if (num > total) total = num
    }
    return total
}

# The Test* methods of the source (CLASSREF-MGR getTestMethods: the methods whose names start with
# "Test"), sorted by name (GUNITTEST_create: "Test methods are executed in alphabetical order"):
# UT_M_NAME[i], UT_M_SIG[i] (the line before the body's "{"), UT_M_FROM[i]..UT_M_TO[i] (the body);
# returns the count.
function ut_methods(n,    i, j, m, name, line, tmp) {
    m = 0
    for (i = 1; i <= n; i++) {
        line = UT_SRC[i]
        if (line !~ /^(Class)?Method[ \t]+Test[A-Za-z0-9]*[ \t]*\(/) continue
        name = line
        sub(/^(Class)?Method[ \t]+/, "", name)
        sub(/[ \t]*\(.*/, "", name)
        for (j = i; j <= n && trim(UT_SRC[j]) != "{"; j++) ;
        if (j > n) continue
        m++
        UT_M_NAME[m] = name; UT_M_SIG[m] = j - 1; UT_M_FROM[m] = j + 1
        for (j = j + 1; j <= n && UT_SRC[j] != "}"; j++) ;
        UT_M_TO[m] = j - 1
        i = j
    }
    # insertion sort by name, keeping the four arrays together
    for (i = 2; i <= m; i++) {
        for (j = i; j > 1 && UT_M_NAME[j - 1] > UT_M_NAME[j]; j--) {
            tmp = UT_M_NAME[j]; UT_M_NAME[j] = UT_M_NAME[j - 1]; UT_M_NAME[j - 1] = tmp
            tmp = UT_M_SIG[j]; UT_M_SIG[j] = UT_M_SIG[j - 1]; UT_M_SIG[j - 1] = tmp
            tmp = UT_M_FROM[j]; UT_M_FROM[j] = UT_M_FROM[j - 1]; UT_M_FROM[j - 1] = tmp
            tmp = UT_M_TO[j]; UT_M_TO[j] = UT_M_TO[j - 1]; UT_M_TO[j - 1] = tmp
        }
    }
    return m
}

# A method of the source that is not a test (OnBeforeAllTests, OnAfterAllTests): its body's
# lines into UT_H_FROM/UT_H_TO; 0 when the class does not define it.
function ut_hook(n, name,    i, j) {
    for (i = 1; i <= n; i++) {
        if (UT_SRC[i] !~ ("^Method[ \t]+" name "[ \t]*\\(")) continue
        for (j = i; j <= n && trim(UT_SRC[j]) != "{"; j++) ;
        UT_H_FROM = j + 1
        for (j = j + 1; j <= n && UT_SRC[j] != "}"; j++) ;
        UT_H_TO = j - 1
        return 1
    }
    return 0
}

# Run a hook of the class with variables of its own: "" when it succeeded, else the error it
# returned (an error %Status) or raised.
function ut_run_hook(n, name,    saved, v, value) {
    if (!ut_hook(n, name)) return ""
    delete saved
    for (v in vars) saved[v] = vars[v]
    delete vars
    UT_METHOD = ""; UT_ERROR = ""; QUIT_VALUE = ""; UT_SIG = 0
    ut_run_body(UT_H_FROM, UT_H_TO)
    value = QUIT_VALUE
    delete vars
    for (v in saved) vars[v] = saved[v]
    if (UT_ERROR != "") return UT_ERROR
    return is_error_status(value) ? substr(value, 3) : ""
}

# $$$ERROR(code, text) in compiled code: an error %Status; $$$GeneralError is 5001.
function ut_error(t,    a, k, code) {
    if (!UT_ACTIVE) { ev_err = "<SYNTAX>"; return "" }
    k = split_top(call_args(t, index(t, "(")), a, ",")
    code = (toupper(trim(a[1])) == "$$$GENERALERROR") ? 5001 : eval_expr(a[1])
    return status_error("ERROR #" code ": " (k >= 2 ? eval_expr(a[2]) : ""))
}

# ---------------------------------------------------------------- the manager

function ut_clean(s) { gsub(/[\t\n\r]/, " ", s); return s }

function ut_write(dir, table, fields) { db_append(dir, "STANDIN-UT " table "\t" fields) }

# The next result index of the namespace (CLASSREF-MGR: ^UnitTest.Result(id,...), id the Index
# of the result URL), claimed under a lock so parallel sessions never share one.
function ut_claim_id(dir,    recs, n, i, f, id, tries) {
    for (tries = 0; tries < 600; tries++) {
        if (system("mkdir " shq(dir "standin-ut.lock") " 2>/dev/null") == 0) break
        system("sleep 0.05")
    }
    n = db_records(dir, recs)
    id = 0
    for (i = 1; i <= n; i++) {
        if (substr(recs[i], 1, 24) != "STANDIN-UT TestInstance\t") continue
        split(recs[i], f, "\t")
        if (f[2] + 0 > id) id = f[2] + 0
    }
    id++
    ut_write(dir, "TestInstance", id)
    system("rmdir " shq(dir "standin-ut.lock") " 2>/dev/null")
    return id
}

# ##class(%UnitTest.Manager).DebugRunTestCase(testsuite, testcase, qspec, testmethod): runs the
# Test* methods of a class "previously loaded" without loading or deleting classes
# (CLASSREF-MGR); only testmethod when it is given. ^UnitTestRoot must name a valid directory
# before any method of the class is invoked (CLASSREF-MGR, setup instructions). Returns OK: the
# outcome of the tests is in the results, not in the status.
function ut_debug_run(args,    a, k, suite, cls, only, root, n, m, i, id, dir, saved, v, failed,
                      any_failed, skipped, started, hook, hook_name) {
    k = split_top(args, a, ",")
    suite = eval_expr(a[1]); cls = eval_expr(a[2]); only = (k >= 4) ? eval_expr(a[4]) : ""
    if (!gref("^UnitTestRoot")) return status_error("ERROR #5001: (stand-in) ^UnitTestRoot")
    root = db_node(G_DIR, G_REF)
    if (root == "" || system("test -d " shq(root)) != 0)
        return status_error("ERROR #5001: (stand-in) ^UnitTestRoot must name an existing directory, not '" root "' (%UnitTest.Manager class reference)")
    if (!class_visible(ns, cls)) return status_error("ERROR #5001: (stand-in) class '" cls "' is not loaded in namespace " ns)
    n = ut_source(cls)
    m = ut_methods(n)
    dir = global_dir(ns, "UnitTest.Result")
    if (db_access(dir) != "") return status_error("ERROR #5001: (stand-in) " db_access(dir))
    id = ut_claim_id(dir)
    UT_DIR = dir; UT_ID = id; UT_SUITE = suite; UT_CLS = cls; UT_ACTIVE = 1
    any_failed = 0
    # OnBeforeAllTests runs once before the methods; when it fails none of them runs, and the
    # case carries its error (CLASSREF-MGR, RunOneTestCase steps; IPM-HOOKS). The ErrorAction
    # value IRIS writes is not documented: "(stand-in) <hook>".
    hook = ut_run_hook(n, "OnBeforeAllTests")
    if (hook != "") { hook_name = "OnBeforeAllTests"; m = 0 }
    for (i = 1; i <= m; i++) {
        if (only != "" && UT_M_NAME[i] != only) continue
        # Each method is a procedure: its variables are its own.
        delete saved
        for (v in vars) saved[v] = vars[v]
        delete vars
        UT_METHOD = UT_M_NAME[i]; UT_SIG = UT_M_SIG[i]; UT_N = 0; UT_FAILED = 0; UT_SKIPPED = 0
        UT_ERROR = ""
        started = systime_s()
        ut_run_body(UT_M_FROM[i], UT_M_TO[i])
        failed = (UT_FAILED || UT_ERROR != "")
        skipped = (!failed && UT_SKIPPED)
        # A thrown error fails the method with its text (IPM-ABSTRACT: errCategory/errMsg).
        ut_write(dir, "TestMethod", id "\t" suite "\t" cls "\t" UT_METHOD "\t" (failed ? 0 : skipped ? 2 : 1) "\t" (systime_s() - started) "\t" (UT_ERROR != "" ? "(stand-in) error" : "") "\t" ut_clean(UT_ERROR))
        if (failed) any_failed = 1
        delete vars
        for (v in saved) vars[v] = saved[v]
        UT_METHOD = ""
    }
    # OnAfterAllTests runs once after them (IPM-HOOKS: "all test methods run first").
    if (hook == "") {
        hook = ut_run_hook(n, "OnAfterAllTests")
        if (hook != "") hook_name = "OnAfterAllTests"
    }
    UT_ACTIVE = 0
    if (hook != "")
        ut_write(dir, "TestCase", id "\t" suite "\t" cls "\t0\t0\t(stand-in) " hook_name "\t" ut_clean(hook))
    else
        ut_write(dir, "TestCase", id "\t" suite "\t" cls "\t" (any_failed ? 0 : 1) "\t0\t\t" (any_failed ? "There are failed TestMethods" : ""))
    ut_write(dir, "TestSuite", id "\t" suite "\t" ((any_failed || hook != "") ? 0 : 1) "\t0\t\t")
    return 1
}

function systime_s(    cmd, t) {
    cmd = "date +%s"
    cmd | getline t
    close(cmd)
    return t + 0
}

# The body's lines in turn; a Quit (or Return) ends the method, an error too (it is recorded,
# and does not reach the session: the manager handles it). A line's number is kept for the
# location of the asserts on it.
function ut_run_body(from, to,    i, line, r) {
    for (i = from; i <= to; i++) {
        line = trim(UT_SRC[i])
        if (line == "" || substr(line, 1, 1) == ";" || substr(line, 1, 2) == "//" || substr(line, 1, 2) == "#;") continue
        UT_LINE = i
        try_depth++
        r = exec_stmts(line)
        try_depth--
        if (r == ERR) { UT_ERROR = caught; caught = ""; return }
        if (r == QUIT || r == HALT) return
    }
}

# $$$AssertX(...) inside a test method: the macro's outcome recorded as a TestAssert, the
# boolean returned (CLASSREF-TC: the *ViaMacro methods return %Boolean). Macros exist only in
# compiled code: typed into a terminal session they are a <SYNTAX> error.
function ut_assert(t,    p, macro, action, args, a, k, ok, desc, v1, v2, status, loc) {
    if (!UT_ACTIVE) { ev_err = "<SYNTAX>"; return "" }
    p = index(t, "(")
    macro = toupper(substr(t, 4, p - 4))
    args = call_args(t, p)
    k = split_top(args, a, ",")
    status = ""
    if (macro == "ASSERTEQUALS") { action = "AssertEquals"; ok = ((eval_expr(a[1]) "") == (eval_expr(a[2]) "")); desc = 3 }
    else if (macro == "ASSERTNOTEQUALS") { action = "AssertNotEquals"; ok = ((eval_expr(a[1]) "") != (eval_expr(a[2]) "")); desc = 3 }
    else if (macro == "ASSERTTRUE") { action = "AssertTrue"; ok = cond_one(a[1]); desc = 2 }
    else if (macro == "ASSERTNOTTRUE") { action = "AssertNotTrue"; ok = !cond_one(a[1]); desc = 2 }
    else if (macro == "ASSERTSTATUSOK") { action = "AssertStatusOK"; ok = !is_error_status(eval_expr(a[1])); desc = 2 }
    else if (macro == "ASSERTSTATUSNOTOK") { action = "AssertStatusNotOK"; ok = is_error_status(eval_expr(a[1])); desc = 2 }
    else if (macro == "ASSERTSUCCESS") { action = "AssertSuccess"; ok = 1; desc = 1 }
    else if (macro == "ASSERTFAILURE") { action = "AssertFailure"; ok = 0; desc = 1 }
    else if (macro == "ASSERTSKIPPED") { action = "AssertSkipped"; ok = 1; status = 2; desc = 1 }
    else { ev_err = "<SYNTAX> (stand-in: $$$" substr(t, 4, p - 4) " is not modelled)"; return "" }
    if (ev_err != "") return ""
    # GUNITTEST_results: the description argument, else the text of the first argument.
    if (desc == 1) desc = eval_expr(a[1])
    else if (k >= desc && trim(a[desc]) != "") desc = eval_expr(a[desc])
    else desc = trim(a[1])
    if (status == "") status = ok ? 1 : 0
    # Outside a test method (in a hook) an assert is evaluated but not logged: LogAssert quits
    # when there is no current test method (TESTINGMANAGER, its copy of LogAssert).
    if (UT_METHOD == "") return ok ? 1 : 0
    if (!ok) UT_FAILED = 1
    if (status == 2) UT_SKIPPED = 1
    UT_N++
    # GUNITTEST_results: label[+offset]^doc.ext, the offset counted as TESTINGMANAGER maps it.
    loc = UT_METHOD "+" (UT_LINE - UT_SIG) "^" UT_CLS ".cls"
    ut_write(UT_DIR, "TestAssert", UT_ID "\t" UT_SUITE "\t" UT_CLS "\t" UT_METHOD "\t" UT_N "\t" status "\t" action "\t" ut_clean(desc) "\t" loc)
    return ok ? 1 : 0
}

# ---------------------------------------------------------------- SQL over the result tables

# The columns of each table in the order of its record's fields after the table name
# (CLASSREF-RESULT property names; the parent reference column carries the parent's key here).
function ut_columns(table) {
    if (table == "TESTSUITE") return "TESTINSTANCE,NAME,STATUS,DURATION,ERRORACTION,ERRORDESCRIPTION"
    if (table == "TESTCASE") return "TESTINSTANCE,TESTSUITE,NAME,STATUS,DURATION,ERRORACTION,ERRORDESCRIPTION"
    if (table == "TESTMETHOD") return "TESTINSTANCE,TESTSUITE,TESTCASE,NAME,STATUS,DURATION,ERRORACTION,ERRORDESCRIPTION"
    if (table == "TESTASSERT") return "TESTINSTANCE,TESTSUITE,TESTCASE,TESTMETHOD,COUNTER,STATUS,ACTION,DESCRIPTION,LOCATION"
    return ""
}

# Only the shape iris-envs sends (a statement of another shape is SQLCODE -1, never a guess):
#   SELECT a.Col, b.Col, ... FROM %UnitTest_Result.<T> a
#     [JOIN %UnitTest_Result.<Parent> b ON a.<Parent> = b.ID]... WHERE s.Name = ?
# where s is the TestSuite. Rows come in the order they were recorded.
function ut_sql(sql,    u, sel, rest, cols, nc, i, alias_t, main, malias, t, al, where_alias, suite,
                       dir, recs, n, j, f, key, h, id, row, c, tab, colname, pos, names, np, x) {
    u = toupper(trim(sql))
    gsub(/[ \t\n]+/, " ", u)
    if (!match(u, /^SELECT .* FROM /)) return new_result(-1, "(stand-in) SQL not modelled")
    sel = substr(u, 8, RLENGTH - 13)
    rest = substr(u, RLENGTH + 1)
    if (!match(rest, /^%UNITTEST_RESULT\.[A-Z]+ [A-Z][A-Z0-9]*/)) return new_result(-1, "(stand-in) SQL not modelled: FROM")
    split(substr(rest, 18, RLENGTH - 17), x, " ")
    main = x[1]; malias = x[2]; alias_t[malias] = main
    rest = substr(rest, RLENGTH + 2)
    while (match(rest, /^JOIN %UNITTEST_RESULT\.[A-Z]+ [A-Z][A-Z0-9]* ON [A-Z][A-Z0-9]*\.[A-Z]+ = [A-Z][A-Z0-9]*\.ID /)) {
        split(substr(rest, 23, RLENGTH - 22), x, " ")
        alias_t[x[2]] = x[1]
        rest = substr(rest, RLENGTH + 1)
    }
    if (!match(rest, /^WHERE [A-Z][A-Z0-9]*\.NAME = \?$/)) return new_result(-1, "(stand-in) SQL not modelled: " rest)
    where_alias = substr(rest, 7, index(rest, ".") - 7)
    if (alias_t[where_alias] != "TESTSUITE" || ut_columns(main) == "") return new_result(-1, "(stand-in) SQL not modelled: WHERE")
    suite = SQL_P[1]
    nc = split_top(sel, cols, ",")
    h = new_result(0, ""); id = obj_id(h)
    names = ""
    for (i = 1; i <= nc; i++) names = names (i > 1 ? "," : "") "C" i
    rs_cols(id, names)
    dir = global_dir(ns, "UnitTest.Result")
    if (db_access(dir) != "") return new_result(-400, db_access(dir))
    n = db_records(dir, recs)
    delete UT_ROW
    # Every row of every table of this suite, by table and key (instance, suite, case, method).
    for (j = 1; j <= n; j++) {
        if (substr(recs[j], 1, 11) != "STANDIN-UT ") continue
        np = split(substr(recs[j], 12), f, "\t")
        tab = toupper(f[1])
        if (tab == "TESTINSTANCE" || f[3] != suite) continue
        key = f[2] SUBSEP f[3]
        if (tab == "TESTCASE" || tab == "TESTMETHOD" || tab == "TESTASSERT") key = key SUBSEP f[4]
        if (tab == "TESTMETHOD" || tab == "TESTASSERT") key = key SUBSEP f[5]
        UT_ROW[tab, key] = substr(recs[j], 12 + length(f[1]) + 1)
    }
    for (j = 1; j <= n; j++) {
        if (substr(recs[j], 1, 11) != "STANDIN-UT ") continue
        split(substr(recs[j], 12), f, "\t")
        if (toupper(f[1]) != main || f[3] != suite) continue
        row = ""
        for (i = 1; i <= nc; i++) {
            c = trim(cols[i])
            al = substr(c, 1, index(c, ".") - 1); colname = substr(c, index(c, ".") + 1)
            t = alias_t[al]
            if (t == "") return new_result(-1, "(stand-in) unknown alias " al)
            pos = ut_index(ut_columns(t), colname)
            if (pos == 0) return new_result(-1, "(stand-in) unknown column " c)
            if (al == malias) {
                row = row (i > 1 ? "\001" : "") f[pos + 1]
                continue
            }
            # A parent row shares the first fields of the child's key.
            key = f[2] SUBSEP f[3]
            if (t == "TESTCASE" || t == "TESTMETHOD") key = key SUBSEP f[4]
            if (t == "TESTMETHOD") key = key SUBSEP f[5]
            split(UT_ROW[t, key], x, "\t")
            row = row (i > 1 ? "\001" : "") x[pos]
        }
        rs_add(id, row)
    }
    return h
}

function ut_index(list, name,    parts, k, i) {
    k = split(list, parts, ",")
    for (i = 1; i <= k; i++) if (parts[i] == name) return i
    return 0
}
