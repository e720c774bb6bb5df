# Stand-in for a direct-mode `iris session` (test infrastructure only; busybox awk).
# A deliberately tiny model of ObjectScript: enough to drive the product's setup scripts,
# marker-based success checks, error triggers, password expiry and user creation.
# The rules are documented in tests/standin/README.md; anything unknown is ignored.
#
# Variables passed with -v: ns, host, version, users_file, expired_file, standin_dir (the
# .standin folder), ipm_home (the namespace IPM is installed in; empty when the image has no IPM).
#
# Statuses are modelled as in IRIS: "1" is OK, an error %Status is "0 ERROR #nnnn: text" (its
# numeric value is 0, so `Throw:'sc` and `If 'sc` work). An evaluation error (a <COMMAND> or
# <CLASS DOES NOT EXIST>) is held in ev_err and raised by the command that evaluated it.

BEGIN {
    OK = 0; ERR = 1; HALT = 2; SKIP = 3
    zerror = ""
    test = 1
    col = 0
    try_depth = 0
    caught = ""
    cur_user = ""
    exit_code = 0
    finished = 0
    ev_err = ""
    call_ctx = ""
    zv = "IRIS for UNIX (Ubuntu Server LTS for x86-64 Containers) " version " (Build 123U) Stand-in"
    predefined["_SYSTEM"] = 1; predefined["SuperUser"] = 1; predefined["Admin"] = 1
    load_users()
    expired = (system("test -f " shq(expired_file)) == 0)
    printf "\nNode: %s, Instance: IRIS\n\n", host
}

{
    line = $0
    sub(/\r$/, "", line)
    prompt()
    sub(/^[ \t]+/, "", line)
    if (line == "" || substr(line, 1, 1) == ";" || substr(line, 1, 2) == "//") next
    if (exec_stmts(line) == HALT) finish(0)
}

END {
    if (!finished) { if (col > 0) printf "\n"; finished = 1 }
    exit exit_code
}

# ---------------------------------------------------------------- output

function prompt() {
    if (col > 0) printf "\n"
    printf "%s>", ns
    col = length(ns) + 1
}

function out(s) {
    printf "%s", s
    col += length(s)
}

function newline() {
    printf "\n"
    col = 0
}

function finish(code) {
    if (col > 0) printf "\n"
    col = 0
    finished = 1
    exit_code = code
    exit code
}

# An error: printed on its own line and stored in $ZERROR (inside Try only stored and caught).
function raise(e) {
    # A thrown status exception shows its status text (ERROR #nnnn: ...); system errors a location.
    if (e !~ /^ERROR #/) e = e "^StandIn"
    zerror = e
    if (try_depth > 0) { caught = e; return ERR }
    if (col > 0) newline()
    out(e)
    newline()
    return ERR
}

# ---------------------------------------------------------------- helpers

function shq(s) {
    gsub(/'/, "'\\''", s)
    return "'" s "'"
}

function trim(s) {
    sub(/^[ \t]+/, "", s)
    sub(/[ \t]+$/, "", s)
    return s
}

function sha(p,    cmd, res, f) {
    cmd = "printf '%s' " shq(p) " | sha256sum"
    res = ""
    cmd | getline res
    close(cmd)
    split(res, f, " ")
    return f[1]
}

function load_users(    l, f) {
    while ((getline l < users_file) > 0) {
        split(l, f, " ")
        if (f[1] != "") users[f[1]] = f[2]
    }
    close(users_file)
}

function save_users(    u, tmp) {
    tmp = users_file ".tmp"
    printf "" > tmp
    for (u in users) print u " " users[u] >> tmp
    close(tmp)
    system("mv -f " shq(tmp) " " shq(users_file))
}

function set_password(u, p) {
    if (u == "") return
    users[u] = sha(p)
    save_users()
}

function status_error(text) { return "0 " text }

function is_error_status(v) { return (v ~ /^0 /) }

function file_exists(path) { return (system("test -e " shq(path)) == 0) }

function file_has(path, text) { return (system("grep -rqF " shq(text) " " shq(path) " 2>/dev/null") == 0) }

function set_dismounted(dir, on,    f) {
    f = standin_dir "/dismounted"
    sub(/\/+$/, "", dir)
    system("touch " shq(f) "; grep -vxF " shq(dir) " " shq(f) " > " shq(f ".new") "; mv -f " shq(f ".new") " " shq(f))
    if (on) record("dismounted", dir)
}

# The value of KEY in [SECTION] of the instance's iris.cpf (names compare case-blind), or "".
function cpf_value(section, key,    cpf, l, in_section, eq) {
    cpf = standin_dir
    sub(/\/\.standin\/?$/, "/iris.cpf", cpf)
    in_section = 0
    while ((getline l < cpf) > 0) {
        sub(/\r$/, "", l)
        if (l ~ /^\[/) { in_section = (toupper(l) == "[" toupper(section) "]"); continue }
        eq = index(l, "=")
        if (in_section && eq > 0 && toupper(substr(l, 1, eq - 1)) == toupper(key)) {
            close(cpf)
            return substr(l, eq + 1)
        }
    }
    close(cpf)
    return ""
}

function record(name, line) {
    print line >> (standin_dir "/" name)
    close(standin_dir "/" name)
}

# IPM >= 0.9 lives only in the namespace it was installed in unless mapped with
# `zpm "enable -map -globally"` (intersystems/ipm README); containers.intersystems.com images
# ship without it (iris-facts.md "IPM").
function ipm_here() {
    if (ipm_home == "") return 0
    if (toupper(ns) == toupper(ipm_home)) return 1
    return file_exists(standin_dir "/ipm-mapped")
}

# SYS.Container methods print an error and terminate the calling process with exit status 1,
# which no Try/Catch contains, unless SYS_CONTAINER_CONTINUE_ON_ERROR=1 (class reference).
function sys_container_fail(text) {
    if (col > 0) newline()
    out("ERROR #5001: " text)
    newline()
    if (ENVIRON["SYS_CONTAINER_CONTINUE_ON_ERROR"] != "1") finish(1)
    return ""
}

# $SYSTEM.SQL.Schema.ImportDDL(infile, logfile, dialect): no return value (class reference
# 2024.1). Statements start on a new line and end with a GO line (SQL guide, "Import File
# Format"); one that fails is skipped and reported in the errors log, which is created even when
# nothing is written to it (default <file>_Errors.log beside the input). The stand-in runs no
# SQL: a statement containing STANDIN-SQL-ERROR fails, every other one is recorded as executed.
function import_ddl(infile, logfile,    l, stmt, n, base) {
    if (logfile == "") {
        base = infile
        sub(/\.[^.\/]*$/, "", base)
        logfile = base "_Errors.log"
    }
    printf "" > logfile
    out("Importing SQL Statements from file: " infile); newline()
    out("Recording any errors to principal device and log file: " logfile); newline()
    if (!file_exists(infile)) {
        print "ERROR: cannot open file " infile >> logfile
        close(logfile)
        return ""
    }
    stmt = ""; n = 0
    while ((getline l < infile) > 0) {
        sub(/\r$/, "", l)
        if (toupper(trim(l)) == "GO") { n = ddl_statement(stmt, n, logfile); stmt = ""; continue }
        stmt = stmt (stmt == "" ? "" : "\n") l
    }
    close(infile)
    if (trim(stmt) != "") n = ddl_statement(stmt, n, logfile)
    close(logfile)
    return ""
}

function ddl_statement(stmt, n, logfile) {
    if (trim(stmt) == "") return n
    n++
    out("SQL statement to process (number " n "):"); newline()
    if (index(stmt, "STANDIN-SQL-ERROR")) {
        out("  ERROR: SQLCODE = -1"); newline()
        print "Error in SQL statement (number " n "): SQLCODE = -1, Invalid SQL statement" >> logfile
        print stmt >> logfile
    } else {
        record("sql-executed", ns ": " stmt)
        out("  DONE"); newline()
    }
    return n
}

# $SYSTEM.OBJ.Load/LoadDir return a %Status; a missing file or one containing
# STANDIN-LOAD-ERROR fails to compile.
function obj_load(path, isdir) {
    if (!file_exists(path)) return status_error("ERROR #5012: File '" path "' does not exist")
    if (file_has(path, "STANDIN-LOAD-ERROR")) return status_error("ERROR #5475: Error compiling routine: " path)
    record("loaded", ns ": " path)
    return 1
}

function unexpire() {
    expired = 0
    system("rm -f " shq(expired_file))
}

function login_ok(u, p) {
    if (!(u in users)) return 0
    if (users[u] != sha(p)) return 0
    if (expired && (u in predefined)) return 0
    return 1
}

# Position after the argument starting at pos: the first space/tab outside a string literal
# and outside (), {} nesting; n+1 at the end of s.
function scan_arg(s, pos,    n, c, depth, instr) {
    n = length(s); depth = 0; instr = 0
    while (pos <= n) {
        c = substr(s, pos, 1)
        if (instr) {
            if (c == "\"") instr = 0
        } else if (c == "\"") {
            instr = 1
        } else if (c == "(" || c == "{") {
            depth++
        } else if (c == ")" || c == "}") {
            depth--
        } else if ((c == " " || c == "\t") && depth <= 0) {
            break
        }
        pos++
    }
    return pos
}

# Split s at separator sep (one character) outside strings and nesting; returns the count.
function split_top(s, arr, sep,    n, i, c, depth, instr, start, k) {
    n = length(s); depth = 0; instr = 0; start = 1; k = 0
    for (i = 1; i <= n; i++) {
        c = substr(s, i, 1)
        if (instr) {
            if (c == "\"") instr = 0
        } else if (c == "\"") {
            instr = 1
        } else if (c == "(" || c == "{") {
            depth++
        } else if (c == ")" || c == "}") {
            depth--
        } else if (c == sep && depth == 0) {
            arr[++k] = substr(s, start, i - start)
            start = i + 1
        }
    }
    arr[++k] = substr(s, start)
    return k
}

# Index of the first top-level "=" (outside strings and nesting), 0 when none.
function top_eq(s,    n, i, c, depth, instr) {
    n = length(s); depth = 0; instr = 0
    for (i = 1; i <= n; i++) {
        c = substr(s, i, 1)
        if (instr) {
            if (c == "\"") instr = 0
        } else if (c == "\"") {
            instr = 1
        } else if (c == "(") {
            depth++
        } else if (c == ")") {
            depth--
        } else if (c == "=" && depth == 0) {
            return i
        }
    }
    return 0
}

# The text between the "(" that ends prefix match and the final ")" of t.
function call_args(t, plen) {
    return substr(t, plen + 1, length(t) - plen - 1)
}

# ---------------------------------------------------------------- expressions

function eval_expr(e,    parts, k, i, r) {
    e = trim(e)
    k = split_top(e, parts, "_")
    r = ""
    for (i = 1; i <= k; i++) r = r eval_term(trim(parts[i]))
    return r
}

function eval_term(t,    u, a, k, v, name) {
    u = toupper(t)
    if (t == "") return ""
    if (t ~ /^".*"$/) {
        v = substr(t, 2, length(t) - 2)
        gsub(/""/, "\"", v)
        return v
    }
    if (t ~ /^[-+]?[0-9]+(\.[0-9]+)?$/) return t + 0
    if (t ~ /^\(.*\)$/) return eval_expr(substr(t, 2, length(t) - 2))
    if (u == "$ZV" || u == "$ZVERSION") return zv
    if (u == "$ZE" || u == "$ZERROR") return zerror
    if (u == "$NAMESPACE" || u == "$ZNSPACE") return ns
    if (u == "$T" || u == "$TEST") return test
    if (u == "$$$OK") return 1
    if (match(u, /^\$(C|CHAR)\(/)) return sprintf("%c", eval_expr(call_args(t, RLENGTH)) + 0)
    if (match(u, /^\$(G|GET)\(/)) {
        name = trim(call_args(t, RLENGTH))
        return (name in vars) ? vars[name] : ""
    }
    if (match(u, /^\$SYSTEM\.SQL\.SCHEMA\.IMPORTDDL\(/)) {
        # No return value: used where a value is needed (Set x=...) it is a <COMMAND> error.
        if (call_ctx != "do") { ev_err = "<COMMAND>"; return "" }
        k = split_top(call_args(t, RLENGTH), a, ",")
        return import_ddl(eval_expr(a[1]), k >= 2 ? eval_expr(a[2]) : "")
    }
    if (match(u, /^\$SYSTEM\.OBJ\.LOADDIR\(/)) {
        k = split_top(call_args(t, RLENGTH), a, ",")
        return obj_load(eval_expr(a[1]), 1)
    }
    if (match(u, /^\$SYSTEM\.OBJ\.LOAD\(/)) {
        k = split_top(call_args(t, RLENGTH), a, ",")
        return obj_load(eval_expr(a[1]), 0)
    }
    if (match(u, /^##CLASS\(%DICTIONARY\.COMPILEDCLASS\)\.%EXISTSID\(/)) {
        name = toupper(eval_expr(call_args(t, RLENGTH)))
        if (name == "%IPM.MAIN") return ipm_here()
        if (name == "%ZPM.PACKAGEMANAGER") return 0
        return 1
    }
    if (match(u, /^##CLASS\(%IPM\.MAIN\)\.SHELL\(/)) {
        if (!ipm_here()) { ev_err = "<CLASS DOES NOT EXIST> *%IPM.Main"; return "" }
        name = eval_expr(call_args(t, RLENGTH))
        if (index(name, "standin-missing")) return status_error("ERROR #5001: Could not find package standin-missing in repositories")
        record("ipm", ns ": " name)
        return 1
    }
    if (match(u, /^##CLASS\(%ZPM\.PACKAGEMANAGER\)\./)) { ev_err = "<CLASS DOES NOT EXIST> *%ZPM.PackageManager"; return "" }
    # Config.Namespaces.Get(Name,.Properties) / Config.Databases.Get(Name,.Properties) (class
    # reference, Config.Namespaces / Config.Databases): the instance's own entries, from iris.cpf
    # ([Namespaces] NAME=GlobalsDB, [Databases] NAME=Directory), fill Properties("Globals") or
    # Properties("Directory"). Other names keep the rule for any class method: an OK status.
    if (match(u, /^##CLASS\(CONFIG\.(NAMESPACES|DATABASES)\)\.GET\(/)) {
        name = (u ~ /NAMESPACES/) ? "Namespaces" : "Databases"
        k = split_top(call_args(t, RLENGTH), a, ",")
        v = cpf_value(name, eval_expr(a[1]))
        if (v != "" && k >= 2 && trim(a[2]) ~ /^\./) {
            a[2] = substr(trim(a[2]), 2)
            if (name == "Namespaces") { sub(/,.*/, "", v); vars[a[2] "(\"Globals\")"] = v }
            else vars[a[2] "(\"Directory\")"] = v
        }
        return 1
    }
    # SYS.Database DismountDatabase(Directory) / MountDatabase(Directory) (class reference,
    # SYS.Database): the directories dismounted now are kept in mgr/.standin/dismounted, so a
    # test sees a database left dismounted (fixture create must mount it again, even on Ctrl-C).
    if (match(u, /^##CLASS\(SYS\.DATABASE\)\.DISMOUNTDATABASE\(/)) {
        name = eval_expr(call_args(t, RLENGTH))
        set_dismounted(name, 1)
        return 1
    }
    # IRIS can open only an IRIS.DAT that irisowner (UID 51773) owns (Data Integrity Guide,
    # "restore to a different system"; iris-facts.md "Databases"): a missing file or one copied
    # in as root is an error status, so a copy that loses the ownership fails its build.
    if (match(u, /^##CLASS\(SYS\.DATABASE\)\.MOUNTDATABASE\(/)) {
        name = eval_expr(call_args(t, RLENGTH))
        v = name
        sub(/\/+$/, "", v)
        v = v "/IRIS.DAT"
        if (!file_exists(v)) return status_error("ERROR (stand-in): cannot mount " name ": " v " does not exist")
        if (system("test \"$(stat -c %u " shq(v) ")\" = 51773") != 0)
            return status_error("ERROR (stand-in): cannot open " v ": it is not owned by irisowner (UID 51773)")
        set_dismounted(name, 0)
        return 1
    }
    if (match(u, /^##CLASS\(SYS\.CONTAINER\)\.PREVENTJOURNALROLLOVERMESSAGE\(/))
        return sys_container_fail("PreventJournalRolloverMessage: the instance was not started with nostu")
    if (match(u, /^##CLASS\(%EXCEPTION\.STATUSEXCEPTION\)\.CREATEFROMSTATUS\(/)) {
        # An exception object, modelled as a value that Throw recognises (\001 + the status).
        return "\001" eval_expr(call_args(t, RLENGTH))
    }
    if (match(u, /^\$SYSTEM\.UTIL\.GETENVIRON\(/)) return ENVIRON[eval_expr(call_args(t, RLENGTH))]
    if (match(u, /^\$SYSTEM\.SECURITY\.LOGIN\(/)) {
        k = split_top(call_args(t, RLENGTH), a, ",")
        return login_ok(eval_expr(a[1]), eval_expr(a[2]))
    }
    if (match(u, /^(##CLASS\(%SYSTEM\.PROCESS\)|\$SYSTEM\.PROCESS)\.TERMINATE\(/)) {
        k = split_top(call_args(t, RLENGTH), a, ",")
        finish(k >= 2 ? eval_expr(a[2]) + 0 : 0)
    }
    if (match(u, /^##CLASS\(SECURITY\.USERS\)\.UNEXPIREUSERPASSWORDS\(/)) {
        unexpire()
        return 1
    }
    if (match(u, /^##CLASS\(SECURITY\.USERS\)\.CREATE\(/)) {
        k = split_top(call_args(t, RLENGTH), a, ",")
        name = eval_expr(a[1])
        cur_user = name
        set_password(name, k >= 3 ? eval_expr(a[3]) : "")
        return 1
    }
    if (match(u, /^##CLASS\(SECURITY\.USERS\)\.(EXISTS|GET|OPENID)\(/)) {
        k = split_top(call_args(t, RLENGTH), a, ",")
        cur_user = eval_expr(a[1])
        return (cur_user in users) ? 1 : 0
    }
    # Object properties of a caught exception (Catch ex): ex.DisplayString(), ex.Name, ...
    if (match(t, /^[A-Za-z%][A-Za-z0-9]*\./)) {
        name = substr(t, 1, RLENGTH - 1)
        if (name in errvars) return vars[name]
        # Another object's method (u.%Save()) succeeds with an OK %Status; a property is "".
        return (t ~ /\)$/) ? 1 : ""
    }
    if (t ~ /^[A-Za-z%][A-Za-z0-9]*$/) return (t in vars) ? vars[t] : ""
    # Any other class or system method: succeeds and returns an OK %Status.
    if (u ~ /^(##CLASS\(|\$SYSTEM\.)/) return 1
    return ""
}

# One condition of If / a postconditional. Unknown conditions count as TRUE; status checks
# ($$$ISERR, $SYSTEM.Status.IsError) count as "no error" since every status is OK here.
function cond_one(c,    u, neg, r, a, k) {
    c = trim(c)
    neg = 0
    while (substr(c, 1, 1) == "'") { neg = !neg; c = substr(c, 2) }
    while (c ~ /^\(.*\)$/) c = substr(c, 2, length(c) - 2)
    u = toupper(c)
    if (u ~ /^\$(ZE|ZERROR)=""$/) r = (zerror == "")
    else if (u ~ /^\$(ZE|ZERROR)'=""$/) r = (zerror != "")
    else if (match(u, /^\$SYSTEM\.SECURITY\.LOGIN\(/)) {
        k = split_top(call_args(c, RLENGTH), a, ",")
        r = login_ok(eval_expr(a[1]), eval_expr(a[2]))
    }
    else if (u ~ /^(\$\$\$ISERR|\$SYSTEM\.STATUS\.ISERROR)\(/) r = 0
    else if (u ~ /^(\$\$\$ISOK|\$SYSTEM\.STATUS\.ISOK)\(/) r = 1
    else if (cmp_at(c) > 0) r = compare(c)
    else if (u ~ /^(\$(G|GET)\(|##CLASS\(|\$SYSTEM\.)/) r = (eval_expr(c) + 0 != 0)
    else if (c ~ /^[-+]?[0-9]+(\.[0-9]+)?$/) r = (c + 0 != 0)
    else if (c ~ /^[A-Za-z%][A-Za-z0-9]*$/ && (c in vars)) r = (vars[c] + 0 != 0)
    else r = 1
    return neg ? !r : r
}

# Position of a top-level = or '= comparison in c (0 when none).
function cmp_at(c) { return top_eq(c) }

function compare(c,    eq, lhs, rhs, neg) {
    eq = top_eq(c)
    lhs = substr(c, 1, eq - 1)
    rhs = substr(c, eq + 1)
    neg = 0
    if (substr(lhs, length(lhs), 1) == "'") { neg = 1; lhs = substr(lhs, 1, length(lhs) - 1) }
    return neg ? (eval_expr(lhs) != eval_expr(rhs)) : (eval_expr(lhs) == eval_expr(rhs))
}

# Comma-separated If conditions all have to hold.
function cond_true(c,    parts, k, i) {
    k = split_top(c, parts, ",")
    for (i = 1; i <= k; i++) if (!cond_one(parts[i])) return 0
    return 1
}

# ---------------------------------------------------------------- commands

function do_set(arg,    parts, k, i, eq, lhs, rhs, val, ul) {
    k = split_top(arg, parts, ",")
    for (i = 1; i <= k; i++) {
        eq = top_eq(parts[i])
        if (eq == 0) continue
        lhs = trim(substr(parts[i], 1, eq - 1))
        rhs = substr(parts[i], eq + 1)
        val = eval_expr(rhs)
        if (ev_err != "") return OK
        ul = toupper(lhs)
        if (ul == "$ZE" || ul == "$ZERROR") zerror = val
        else if (ul == "$NAMESPACE") ns = val
        else if (ul ~ /\.PASSWORD(EXTERNAL)?$/ || ul ~ /\("PASSWORD(EXTERNAL)?"\)$/) set_password(cur_user, val)
        else if (lhs ~ /^[A-Za-z%][A-Za-z0-9]*$/) { vars[lhs] = val; delete errvars[lhs] }
    }
    return OK
}

function do_write(arg,    parts, k, i, j, p) {
    k = split_top(arg, parts, ",")
    for (i = 1; i <= k; i++) {
        p = trim(parts[i])
        if (p ~ /^[!#]+$/) {
            for (j = 1; j <= length(p); j++) if (substr(p, j, 1) == "!") newline()
        } else if (substr(p, 1, 1) == "?") {
            continue
        } else {
            out(eval_expr(p))
        }
    }
    return OK
}

function do_do(arg,    parts, k, i) {
    k = split_top(arg, parts, ",")
    for (i = 1; i <= k; i++) {
        call_ctx = "do"
        eval_expr(parts[i])
        call_ctx = ""
        if (ev_err != "") return OK
    }
    return OK
}

function block_inner(b) {
    b = trim(b)
    if (substr(b, 1, 1) == "{") b = substr(b, 2)
    if (substr(b, length(b), 1) == "}") b = substr(b, 1, length(b) - 1)
    return b
}

# Execute one line (or the inside of a { } block). Returns OK, ERR, HALT or SKIP.
function exec_stmts(s,    pos, n, c, st, cmd, haspc, pc, arg, r, ua, b, var) {
    pos = 1; n = length(s)
    while (pos <= n) {
        while (pos <= n && (substr(s, pos, 1) == " " || substr(s, pos, 1) == "\t")) pos++
        if (pos > n) break
        c = substr(s, pos, 1)
        if (c == ";" || substr(s, pos, 2) == "//") break
        st = pos
        while (pos <= n && substr(s, pos, 1) ~ /[A-Za-z$%]/) pos++
        cmd = toupper(substr(s, st, pos - st))
        if (cmd == "") { pos = scan_arg(s, pos + 1); continue }
        haspc = 0; pc = ""
        if (substr(s, pos, 1) == ":") {
            pos++; st = pos; pos = scan_arg(s, pos)
            pc = substr(s, st, pos - st); haspc = 1
        }
        arg = ""
        if (substr(s, pos, 1) == " ") {
            pos++
            if (substr(s, pos, 1) != " ") { st = pos; pos = scan_arg(s, pos); arg = substr(s, st, pos - st) }
        }
        # Catch var { ... }: the block follows the variable name.
        if (cmd == "CATCH" && substr(arg, 1, 1) != "{") {
            var = arg
            while (substr(s, pos, 1) == " ") pos++
            st = pos; pos = scan_arg(s, pos); b = substr(s, st, pos - st)
        } else if (cmd == "CATCH") {
            var = ""; b = arg
        }

        if (cmd == "CATCH") {
            if (caught != "") {
                if (var != "") { vars[var] = caught; errvars[var] = 1 }
                caught = ""
                r = exec_stmts(block_inner(b))
                if (r == ERR || r == HALT) return r
            }
            continue
        }
        if (cmd == "TRY") {
            caught = ""
            try_depth++
            r = exec_stmts(block_inner(arg))
            try_depth--
            if (r == HALT) return r
            continue
        }
        if (haspc && !cond_true(pc)) continue
        ua = toupper(arg)
        if (index(arg, "1/0")) return raise("<DIVIDE>")
        if (index(ua, "##CLASS(SECURITY.USERS).UNEXPIREUSERPASSWORDS(")) unexpire()

        if (cmd == "S" || cmd == "SET") r = do_set(arg)
        else if (cmd == "W" || cmd == "WRITE") r = do_write(arg)
        else if (cmd == "D" || cmd == "DO") r = do_do(arg)
        else if (cmd == "I" || cmd == "IF") {
            test = cond_true(arg)
            while (substr(s, pos, 1) == " ") pos++
            if (substr(s, pos, 1) == "{") {
                st = pos; pos = scan_arg(s, pos); b = substr(s, st, pos - st)
                if (test) { r = exec_stmts(block_inner(b)); if (r == ERR || r == HALT) return r }
                continue
            }
            if (!test) return SKIP
            r = OK
        }
        else if (cmd == "E" || cmd == "ELSE") { if (test) return SKIP; r = OK }
        else if (cmd == "H" || cmd == "HALT") { if (cmd == "HALT" || arg == "") return HALT; r = OK }
        else if (cmd == "Q" || cmd == "QUIT" || cmd == "RET" || cmd == "RETURN") return SKIP
        else if (cmd == "ZT" || cmd == "ZTRAP") {
            b = eval_expr(arg)
            return raise(b == "" ? "<ZTRAP>" : "<Z" b ">")
        }
        else if (cmd == "THROW") {
            b = eval_expr(arg)
            if (substr(b, 1, 1) == "\001") {
                b = substr(b, 2)
                sub(/^0 /, "", b)
                return raise(b ~ /^ERROR #/ ? b : "<THROW> " b)
            }
            return raise("<THROW>")
        }
        else if (cmd == "ZPM") {
            # The zpm command exists only where IPM is available (language extension of IPM).
            if (!ipm_here()) return raise("<SYNTAX>")
            b = eval_expr(arg)
            if (b ~ /enable/ && b ~ /-map/ && b ~ /-globally/) { printf "" > (standin_dir "/ipm-mapped"); close(standin_dir "/ipm-mapped") }
            record("ipm", ns ": zpm " b)
            r = OK
        }
        else if (cmd == "ZN" || cmd == "ZNSPACE") { ns = eval_expr(arg); r = OK }
        else r = OK
        if (ev_err != "") { b = ev_err; ev_err = ""; return raise(b) }
        if (r != OK) return r
    }
    return OK
}
