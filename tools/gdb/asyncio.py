"""gdb commands for programs built on asyncio for C++20: `asyncio ps` and `asyncio pstree`,
the tasks of every running event loop of a live process (run or attached) or of a core dump,
with each task's await chain — what `python -m asyncio ps|pstree PID` shows for Python.

    (gdb) source tools/gdb/asyncio.py
    (gdb) asyncio ps
    (gdb) asyncio pstree

It reads memory only (no function of the program is called), so it works on a core file. A
frame is named by gdb from its resume function (full names, files and lines with -g; names only
from the symbol table without). What a task waits on is the dynamic type of its waiter; who
awaits whom is followed through task awaiters and gather/wait (a TaskGroup's members are listed
as roots). The layout read here is the library's: TaskStateBase (tasks_, all_link_, waiter_,
prefix_bytes_, extras_) and the promise's child link 16 bytes into a coroutine frame
(tests/test_graph.cpp checks that offset).
"""
import re

import gdb


def _u64(v):
    return int(v.cast(gdb.lookup_type("unsigned long")))


def _loops():
    """(thread, EventLoop*) for every thread running a loop."""
    out = []
    inferior = gdb.selected_inferior()
    current = gdb.selected_thread()
    for th in inferior.threads():
        th.switch()
        try:
            loop = gdb.parse_and_eval("asyncio::detail::tl_running_loop")
        except gdb.error:
            continue
        if _u64(loop) != 0:
            out.append((th, loop))
    if current is not None:
        current.switch()
    return out


def _tasks(loop):
    tsb = gdb.lookup_type("asyncio::detail::TaskStateBase")
    off = int(gdb.parse_and_eval("(unsigned long)&((asyncio::detail::TaskStateBase*)0)->all_link_"))
    head = loop.dereference()["tasks_"]["head_"]
    sentinel = _u64(head.address)
    node = head["next_"]
    tasks = []
    while _u64(node) != sentinel and _u64(node) != 0:
        addr = _u64(node) - off
        tasks.append(gdb.Value(addr).cast(tsb.pointer()))
        node = node.dereference()["next_"]
    return tasks


def _std_string(s):
    try:
        p = s["_M_dataplus"]["_M_p"]
        n = int(s["_M_string_length"])
        return p.string(length=n)
    except gdb.error:
        return str(s)


def _name(t):
    try:
        # extras_ is a std::unique_ptr<Extras> with the default deleter: one pointer.
        extras_t = gdb.lookup_type("asyncio::detail::TaskStateBase::Extras")
        extras = t["extras_"].address.cast(extras_t.pointer().pointer()).dereference()
        if _u64(extras) != 0 and bool(extras.dereference()["has_name"]):
            return _std_string(extras.dereference()["name"])
    except gdb.error:
        pass
    return "Task-%d" % int(t["id_"])


def _pending(t):
    # State is a 2-bit field: 0 Pending.
    return int(t["state_"]) == 0


def _frame_name(frame_addr):
    pc = _u64(gdb.Value(frame_addr).cast(gdb.lookup_type("unsigned long").pointer()).dereference())
    block = None
    try:
        block = gdb.block_for_pc(pc)
    except RuntimeError:
        pass
    while block is not None and block.function is None:
        block = block.superblock
    if block is not None and block.function is not None:
        fn = block.function
        name = fn.print_name
        for suffix in (" [clone .actor]", " (.resume)", " [clone .resume]"):
            if name.endswith(suffix):
                name = name[: -len(suffix)]
        m = re.search(r"(_Z[A-Za-z0-9_]+)\.Frame ?\*\)$", name)
        if m:  # GCC's actor takes the frame, whose type names the coroutine: demangle that
            try:
                name = gdb.execute("demangle " + m.group(1), to_string=True).strip() or name
            except gdb.error:
                pass
        where = ""
        if fn.symtab is not None and fn.line > 0:
            where = "%s:%d" % (fn.symtab.filename, fn.line)
        return name, where
    sym = gdb.execute("info symbol 0x%x" % pc, to_string=True).strip()
    return (sym.split(" in section")[0] if "No symbol" not in sym else "<coroutine 0x%x>" % frame_addr), ""


def _stack(t):
    """Frames of task t, outermost first: (name, where)."""
    if not bool(t["frame_live_"]):
        return []
    ulong_p = gdb.lookup_type("unsigned long").pointer()
    frame = _u64(t) + int(t["prefix_bytes_"])
    out = []
    for _ in range(10000):
        out.append(_frame_name(frame))
        # Done frames (resume pointer null) await nothing.
        if _u64(gdb.Value(frame).cast(ulong_p).dereference()) == 0:
            break
        slot = _u64(gdb.Value(frame + 24).cast(ulong_p).dereference())  # PromiseBase::child_slot_
        if slot == 0:
            break
        child = _u64(gdb.Value(slot).cast(ulong_p).dereference())
        if child == 0:
            break
        frame = child
    return out


def _waiter(t):
    w = t["waiter_"]
    if _u64(w) == 0:
        return None, ""
    try:
        dyn = w.dynamic_type.target()
        return w.dereference().cast(dyn), str(dyn)
    except gdb.error:
        return None, "?"


def _awaiters_map(tasks):
    """child task address -> the tasks awaiting it. Read from each task's done list: a waiter
    node (no run function) holds the waiting task; a gather's or wait's node holds its core,
    which the task suspended on that gather or wait is waiting through."""
    by_addr = {_u64(t): t for t in tasks}
    owner = {}
    for t in tasks:
        w, typ = _waiter(t)
        if w is None:
            continue
        try:
            if "GatheringFuture" in typ:
                core = w["st"].cast(gdb.lookup_type("asyncio::detail::GatherCore").pointer())
                owner[_u64(core)] = t
            elif "MultiWait" in typ:
                owner[_u64(w.address)] = t
        except gdb.error:
            pass
    cn = gdb.lookup_type("asyncio::detail::CompletionNode").pointer()
    result = {}
    for c in tasks:
        head = c["done_list_"]["head_"]
        sentinel = _u64(head.address)
        node = head["next_"]
        while _u64(node) not in (0, sentinel):
            n = node.cast(cn).dereference()
            word = _u64(n["word_"])
            parent = by_addr.get(word) if _u64(n["run_"]) == 0 else owner.get(word)
            if parent is not None and parent not in result.get(_u64(c), []):
                result.setdefault(_u64(c), []).append(parent)
            node = node.dereference()["next_"]
    return result


def _short_type(typ):
    for full, short in (("asyncio::detail::", ""), ("asyncio::", "")):
        typ = typ.replace(full, short)
    return typ


class AsyncioPrefix(gdb.Command):
    """Commands for asyncio for C++20: asyncio ps, asyncio pstree."""

    def __init__(self):
        super().__init__("asyncio", gdb.COMMAND_DATA, gdb.COMPLETE_NONE, True)


class AsyncioPs(gdb.Command):
    """Every pending task of every running loop: id, name, coroutine stack, what it waits on."""

    def __init__(self):
        super().__init__("asyncio ps", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        rows = [("tid", "task id", "task name", "coroutine stack", "awaiting", "awaiter name", "awaiter id")]
        for th, loop in _loops():
            tasks = [t for t in _tasks(loop) if _pending(t)]
            awaiters = _awaiters_map(tasks)
            for t in tasks:
                stack = " -> ".join(n for n, _ in _stack(t))
                _, typ = _waiter(t)
                by = awaiters.get(_u64(t), [])
                if not by:
                    rows.append((str(th.ptid[1]), "0x%x" % _u64(t), _name(t), stack, _short_type(typ), "", "0x0"))
                for a in by:
                    rows.append((str(th.ptid[1]), "0x%x" % _u64(t), _name(t), stack, _short_type(typ), _name(a), "0x%x" % _u64(a)))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for k, r in enumerate(rows):
            print("  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip())
            if k == 0:
                print("-" * (sum(widths) + 2 * (len(widths) - 1)))


class AsyncioPstree(gdb.Command):
    """Every pending task as a tree of who awaits whom, each task with its coroutine stack."""

    def __init__(self):
        super().__init__("asyncio pstree", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        for th, loop in _loops():
            tasks = [t for t in _tasks(loop) if _pending(t)]
            by_addr = {_u64(t): t for t in tasks}
            kids = {_u64(t): [] for t in tasks}
            for c, parents in _awaiters_map(tasks).items():
                for p in parents:
                    kids[_u64(p)].append(c)
            awaited = {c for cs in kids.values() for c in cs}
            print("thread %d" % th.ptid[1])

            def node(addr, prefix, last, seen):
                t = by_addr[addr]
                print(prefix + ("└── " if last else "├── ") + "(T) " + _name(t))
                p = prefix + ("    " if last else "│   ")
                if addr in seen:
                    print(p + "└── (cycle)")
                    return
                for name, where in _stack(t):
                    print(p + "└──  " + name + ((" " + where) if where else ""))
                    p += "    "
                _, typ = _waiter(t)
                if typ:
                    print(p + ("├── " if kids[addr] else "└── ") + "awaiting " + _short_type(typ))
                cs = kids[addr]
                for i, c in enumerate(cs):
                    node(c, p, i + 1 == len(cs), seen | {addr})

            roots = [_u64(t) for t in tasks if _u64(t) not in awaited] or [_u64(t) for t in tasks[:1]]
            for i, r in enumerate(roots):
                node(r, "", i + 1 == len(roots), frozenset())


AsyncioPrefix()
AsyncioPs()
AsyncioPstree()
