// asyncio/graph.hpp — Python 3.14's asyncio.graph: where is each task suspended, and who waits
// for it. capture_call_graph() / format_call_graph() / print_call_graph() for one task, ps() and
// pstree() for every task of the running loop.
//
// Nothing is recorded ahead of time: the graph is read from what the runtime keeps anyway (a
// frame suspended on a child Task links to it; a suspended task knows what it waits on), so it
// costs no byte per frame and no time until asked. Function names come from:
//   - debug mode (ASYNCIO_DEBUG=1 or run(main, {.debug = true})): the coroutine's name, file and
//     line, recorded when its frame was made;
//   - otherwise the program's symbol table (.symtab), through the frame's resume function: any
//     build not stripped has it (no -g or -rdynamic needed); file and line are then not known,
//     and a frame prints as `in async worker(int)`;
//   - in a stripped binary, `<coroutine 0x...>`.
// Differs from Python: a frame's line is where its coroutine was created (debug mode), not the
// line it is suspended at; each leaf also says what it waits on (`awaiting`), which Python
// cannot show. Frames of an async generator's body are not followed (the frame iterating it is
// the innermost shown).
#pragma once

#include <algorithm>
#include <coroutine>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "detail/symbols.hpp"
#include "events.hpp"
#include "taskgroups.hpp"
#include "tasks.hpp"

namespace asyncio {

/// One coroutine frame of a task's await chain (Python's FrameCallGraphEntry, which holds a
/// frame object; C++ has none, so the entry holds what can be said of it).
struct FrameCallGraphEntry {
  std::string function;  // "worker(int)", or "worker" in debug mode, or "<coroutine 0x...>"
  std::string file;      // empty when not known (see the header's comment)
  unsigned line = 0;     // 0 when not known
  std::string awaiting;  // the innermost frame: what it is suspended on ("sleep, 1.250 s left")
};

/// A task, its await chain (innermost frame first, as Python's) and the graphs of the tasks
/// waiting for it, recursively (Python's FutureCallGraph).
struct FutureCallGraph {
  TaskPtr future;
  std::vector<FrameCallGraphEntry> call_stack;
  std::vector<FutureCallGraph> awaited_by;
  bool cycle = false;  // this task already appears above in the graph (its awaited_by is not repeated)
};

/// depth: as Python's, 1 keeps every frame of the current task (the frame calling
/// capture_call_graph is the first); each more skips one innermost frame. limit: keep at most
/// this many frames of each call stack (the innermost ones; Python 3.14's limit).
struct CallGraphOptions {
  int depth = 1;
  std::optional<std::size_t> limit;
};

namespace detail {

struct GraphAccess {
  static std::coroutine_handle<> frame_of(const TaskStateBase* t) noexcept {
    return t->frame_live_ ? t->frame() : std::coroutine_handle<>();
  }
  static Waiter* waiter_of(const TaskStateBase* t) noexcept { return t->waiter_; }
  /// The parent task of the TaskGroup `t` belongs to, if any (Python 3.14 counts a group's
  /// tasks as awaited by the task that entered the group, whatever it is doing).
  static TaskStateBase* group_parent(const TaskStateBase* t) noexcept {
    const List& l = t->done_list_;
    for (const ListNode* n = l.sentinel()->next_; n != l.sentinel(); n = n->next_) {
      auto* c = static_cast<const CompletionNode*>(n);
      if (c->run_ == &TaskGroup::Node::run)
        return static_cast<const TaskGroup::Node*>(c)->group->parent_.get();
    }
    return nullptr;
  }
};

/// The coroutine's signature from its resume function's demangled name: clang's is
/// "worker(int) (.resume)"; GCC's actor takes the frame, "worker(worker(int)::_Z6workeri.Frame*)",
/// whose parameter spells the signature. Both give "worker(int)".
inline std::string strip_clone_suffix(std::string s) {
  for (const char* suffix : {" [clone .actor]", " (.resume)", " [clone .resume]", " (.destroy)"}) {
    std::size_t at = s.rfind(suffix);
    if (at != std::string::npos && at + std::char_traits<char>::length(suffix) == s.size()) s.resize(at);
  }
  static constexpr std::string_view frame_tail = ".Frame*)";
  if (s.size() > frame_tail.size() && s.compare(s.size() - frame_tail.size(), frame_tail.size(), frame_tail) == 0) {
    std::size_t mangled = s.rfind("::_Z");
    for (std::size_t l = s.find('('); l != std::string::npos && l < mangled; l = s.find('(', l + 1)) {
      if (s.compare(l + 1, l, s, 0, l) == 0 && s[2 * l + 1] == '(')  // NAME(NAME(params)::_Z...
        return s.substr(l + 1, mangled - l - 1);
    }
  }
  return s;
}

inline FrameCallGraphEntry describe_frame(std::coroutine_handle<> h) {
  FrameCallGraphEntry e;
  if (const CoroOrigin* o = task_promise_of(h).origin()) {
    e.function = o->function;
    e.file = o->file;
    e.line = o->line;
    return e;
  }
  void* resume_fn;  // a coroutine frame begins with its resume function's address (GCC, clang)
  std::memcpy(&resume_fn, h.address(), sizeof resume_fn);
  std::string name = function_name_at(resume_fn);
  if (!name.empty()) {
    e.function = strip_clone_suffix(std::move(name));
    return e;
  }
  char buf[48];
  std::snprintf(buf, sizeof buf, "<coroutine %p>", h.address());
  e.function = buf;
  return e;
}

/// The task's frames, innermost first: its root frame, then down the child links.
inline std::vector<FrameCallGraphEntry> call_stack_of(const TaskStateBase* t, double now) {
  std::vector<FrameCallGraphEntry> out;
  std::coroutine_handle<> h = GraphAccess::frame_of(t);
  if (!h || h.done()) return out;
  for (;;) {
    out.push_back(describe_frame(h));
    if (h.done()) break;  // (a Task<void> that ended keeps its exception in the link's word)
    PromiseBase& p = task_promise_of(h);
    if (!p.child_slot_ || !*p.child_slot_) break;
    h = *p.child_slot_;
  }
  if (Waiter* w = GraphAccess::waiter_of(t)) w->describe(out.back().awaiting, now);
  std::reverse(out.begin(), out.end());
  return out;
}

inline std::vector<TaskStateBase*> live_tasks_of(const EventLoop& loop) {
  std::vector<TaskStateBase*> out;
  const List& lst = loop.live_tasks();
  for (const ListNode* n = lst.sentinel()->next_; n != lst.sentinel(); n = n->next_) {
    auto* t = TaskStateBase::owner_of(n);
    if (!t->done()) out.push_back(t);
  }
  return out;
}

/// The tasks waiting for `t`: suspended on it (await, gather, wait, wait_for, a TaskGroup's
/// exit), or parents of the TaskGroup it belongs to. In the loop's task order, no repeats.
inline std::vector<TaskStateBase*> awaiters_of(const TaskStateBase* t, const std::vector<TaskStateBase*>& all) {
  std::vector<TaskStateBase*> out;
  TaskStateBase* gp = GraphAccess::group_parent(t);
  for (TaskStateBase* u : all) {
    if (u == t) continue;
    Waiter* w = GraphAccess::waiter_of(u);
    if (u == gp || (w && w->awaits(t))) out.push_back(u);
  }
  return out;
}

inline void apply_limit(std::vector<FrameCallGraphEntry>& st, const CallGraphOptions& o) {
  if (o.limit && st.size() > *o.limit) st.resize(*o.limit);
}

inline FutureCallGraph build_graph(TaskStateBase* t, const std::vector<TaskStateBase*>& all, double now,
                                   const CallGraphOptions& o, std::vector<const TaskStateBase*>& path) {
  FutureCallGraph g;
  g.future = TaskPtr(t);
  g.call_stack = call_stack_of(t, now);
  apply_limit(g.call_stack, o);
  if (std::find(path.begin(), path.end(), t) != path.end()) {
    g.cycle = true;
    return g;
  }
  path.push_back(t);
  for (TaskStateBase* u : awaiters_of(t, all)) g.awaited_by.push_back(build_graph(u, all, now, o, path));
  path.pop_back();
  return g;
}

inline std::string hex_id(const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%#zx", reinterpret_cast<std::uintptr_t>(p));
  return buf;
}

inline std::string frame_line(const FrameCallGraphEntry& e) {
  std::string s;
  if (!e.file.empty()) s += "File '" + e.file + "', line " + std::to_string(e.line) + ", ";
  std::string fn = e.function;
  if (fn.empty() || fn.back() != ')') {
    if (fn.empty() || fn.front() != '<') fn += "()";
  }
  s += "in async " + fn;
  return s;
}

inline void render(const FutureCallGraph& g, std::string& out, int level) {
  const std::string pad(static_cast<std::size_t>(level) * 4, ' ');
  out += pad + "* Task(name='" + g.future->get_name() + "', id=" + hex_id(g.future.get()) + ")";
  if (g.cycle) out += " (cycle)";
  out += "\n";
  if (!g.call_stack.empty()) {
    out += pad + "  + Call stack:\n";
    for (const FrameCallGraphEntry& e : g.call_stack) {
      out += pad + "  |   " + frame_line(e) + "\n";
      if (!e.awaiting.empty()) out += pad + "  |       awaiting " + e.awaiting + "\n";
    }
  }
  if (!g.awaited_by.empty()) {
    out += pad + "  + Awaited by:\n";
    for (const FutureCallGraph& p : g.awaited_by) render(p, out, level + 1);
  }
}

}  // namespace detail

/// The graph of `task` (default: the current task). Empty when there is no task to look at
/// (Python returns None). RuntimeError outside a running loop when no task is given; the task
/// must belong to the running loop.
inline std::optional<FutureCallGraph> capture_call_graph(TaskPtr task = {}, CallGraphOptions o = {}) {
  EventLoop& loop = get_running_loop();
  if (!task) task = current_task();
  if (!task) return std::nullopt;
  auto all = detail::live_tasks_of(loop);
  std::vector<const detail::TaskStateBase*> path;
  FutureCallGraph g = detail::build_graph(task.get(), all, loop.time(), o, path);
  if (task == current_task() && o.depth > 1) {
    std::size_t skip = std::min<std::size_t>(static_cast<std::size_t>(o.depth - 1), g.call_stack.size());
    g.call_stack.erase(g.call_stack.begin(), g.call_stack.begin() + static_cast<std::ptrdiff_t>(skip));
  }
  return g;
}

/// Python's layout: `* Task(name='worker', id=0x...)`, `  + Call stack:`, `  |   File 'w.cpp',
/// line 12, in async worker()`, `  + Awaited by:` and the awaiters indented by four spaces;
/// a leaf adds `  |       awaiting sleep, 1.250 s left`. Empty when there is no task.
inline std::string format_call_graph(TaskPtr task = {}, CallGraphOptions o = {}) {
  auto g = capture_call_graph(std::move(task), o);
  if (!g) return {};
  std::string out;
  detail::render(*g, out, 0);
  return out;
}

/// format_call_graph() written to `out` (stdout by default).
inline void print_call_graph(TaskPtr task = {}, CallGraphOptions o = {}, std::FILE* out = stdout) {
  std::string s = format_call_graph(std::move(task), o);
  if (!s.empty()) std::fputs(s.c_str(), out);
}

/// Every pending task of the running loop, one line each (`python -m asyncio ps`): its id, name,
/// coroutine stack (outermost first, joined by " -> "), what it waits on, and the name and id of
/// each task awaiting it.
inline std::string ps() {
  EventLoop& loop = get_running_loop();
  auto all = detail::live_tasks_of(loop);
  const double now = loop.time();
  std::vector<std::vector<std::string>> rows{{"task id", "task name", "coroutine stack", "awaiting", "awaiter name", "awaiter id"}};
  for (detail::TaskStateBase* t : all) {
    auto st = detail::call_stack_of(t, now);
    std::string stack, awaiting;
    for (auto it = st.rbegin(); it != st.rend(); ++it) {
      if (!stack.empty()) stack += " -> ";
      stack += it->function;
      if (!it->awaiting.empty()) awaiting = it->awaiting;
    }
    auto by = detail::awaiters_of(t, all);
    if (by.empty()) rows.push_back({detail::hex_id(t), t->get_name(), stack, awaiting, "", "0x0"});
    for (detail::TaskStateBase* u : by) rows.push_back({detail::hex_id(t), t->get_name(), stack, awaiting, u->get_name(), detail::hex_id(u)});
  }
  std::vector<std::size_t> w(rows[0].size(), 0);
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size(); ++i) w[i] = std::max(w[i], r[i].size());
  std::string out;
  for (std::size_t k = 0; k < rows.size(); ++k) {
    std::string line;
    for (std::size_t i = 0; i < rows[k].size(); ++i) {
      line += rows[k][i];
      if (i + 1 < rows[k].size()) line += std::string(w[i] - rows[k][i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
    if (k == 0) {
      std::size_t total = 0;
      for (std::size_t x : w) total += x + 2;
      out += std::string(total - 2, '-') + "\n";
    }
  }
  return out;
}

/// Every pending task of the running loop as a tree of who awaits whom (`python -m asyncio
/// pstree`): a task not awaited by anyone is a root; under a task come its frames (outermost
/// first, each nested in the one before), and under its innermost frame the tasks it awaits.
/// Tasks that await each other in a cycle are listed after "ERROR: await-graph contains cycles",
/// as Python does, instead of a tree.
inline std::string pstree() {
  EventLoop& loop = get_running_loop();
  auto all = detail::live_tasks_of(loop);
  const double now = loop.time();
  std::unordered_map<const detail::TaskStateBase*, std::vector<detail::TaskStateBase*>> awaits;  // t -> tasks t awaits
  std::unordered_set<const detail::TaskStateBase*> awaited;
  for (detail::TaskStateBase* t : all)
    for (detail::TaskStateBase* u : detail::awaiters_of(t, all)) {
      awaits[u].push_back(t);
      awaited.insert(t);
    }
  // Cycles: a task that can reach itself through awaits.
  std::vector<std::vector<const detail::TaskStateBase*>> cycles;
  {
    std::unordered_map<const detail::TaskStateBase*, int> color;  // 0 new, 1 on the path, 2 done
    std::vector<const detail::TaskStateBase*> path;
    auto visit = [&](auto& self, const detail::TaskStateBase* t) -> void {
      color[t] = 1;
      path.push_back(t);
      for (const detail::TaskStateBase* u : awaits[t]) {
        if (color[u] == 1) {
          auto from = std::find(path.begin(), path.end(), u);
          cycles.emplace_back(from, path.end());
        } else if (color[u] == 0) {
          self(self, u);
        }
      }
      path.pop_back();
      color[t] = 2;
    };
    for (detail::TaskStateBase* t : all)
      if (color[t] == 0) visit(visit, t);
  }
  std::string out;
  if (!cycles.empty()) {
    out += "ERROR: await-graph contains cycles - cannot print a tree!\n";
    for (const auto& c : cycles) {
      out += "cycle: ";
      for (const detail::TaskStateBase* t : c) out += t->get_name() + " -> ";
      out += c.front()->get_name() + "\n";
    }
    return out;
  }
  auto node = [&](auto& self, detail::TaskStateBase* t, const std::string& prefix, bool last) -> void {
    out += prefix + (last ? "└── " : "├── ") + "(T) " + t->get_name() + "\n";
    std::string p = prefix + (last ? "    " : "│   ");
    auto st = detail::call_stack_of(t, now);
    const auto& kids = awaits[t];
    for (auto it = st.rbegin(); it != st.rend(); ++it) {
      bool innermost = std::next(it) == st.rend();
      bool last_here = innermost && kids.empty() && it->awaiting.empty();
      std::string label = it->function;
      if (!it->file.empty()) label += " " + it->file + ":" + std::to_string(it->line);
      out += p + (innermost && !kids.empty() ? "└── " : "└── ") + " " + label + "\n";
      p += "    ";
      (void)last_here;
      if (innermost && !it->awaiting.empty())
        out += p + (kids.empty() ? "└── " : "├── ") + "awaiting " + it->awaiting + "\n";
    }
    for (std::size_t i = 0; i < kids.size(); ++i) self(self, kids[i], p, i + 1 == kids.size());
  };
  std::vector<detail::TaskStateBase*> roots;
  for (detail::TaskStateBase* t : all)
    if (!awaited.count(t)) roots.push_back(t);
  for (std::size_t i = 0; i < roots.size(); ++i) node(node, roots[i], "", i + 1 == roots.size());
  return out;
}

}  // namespace asyncio
