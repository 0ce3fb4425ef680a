// Storage for "a value, an exception, or nothing yet", used by promises and task states.
#pragma once

#include <exception>
#include <memory>
#include <type_traits>
#include <utility>
#include <variant>

namespace asyncio::detail {

struct Unit {};

template <class T>
struct Stored {
  using type = T;
  static T&& get(type& v) { return std::move(v); }
  static const T& peek(const type& v) { return v; }
};
template <class T>
struct Stored<T&> {
  using type = T*;
  static T& get(type& v) { return *v; }
  static T& peek(const type& v) { return *v; }
};
template <>
struct Stored<void> {
  using type = Unit;
  static void get(type&) {}
  static void peek(const type&) {}
};

template <class T>
class Outcome {
 public:
  using stored_type = typename Stored<T>::type;

  bool empty() const noexcept { return v_.index() == 0; }
  bool has_value() const noexcept { return v_.index() == 1; }
  bool has_exception() const noexcept { return v_.index() == 2; }

  template <class... U>
  void set_value(U&&... u) {
    if constexpr (std::is_void_v<T>) {
      v_.template emplace<1>();
    } else if constexpr (std::is_reference_v<T>) {
      v_.template emplace<1>(std::addressof(u)...);
    } else {
      v_.template emplace<1>(std::forward<U>(u)...);
    }
  }
  void set_exception(std::exception_ptr e) noexcept { v_.template emplace<2>(std::move(e)); }
  const std::exception_ptr& exception() const noexcept { return *std::get_if<2>(&v_); }

  /// Moves the value out (or rethrows). For references returns the reference.
  decltype(auto) take() {
    if (v_.index() == 2) std::rethrow_exception(std::get<2>(v_));
    return Stored<T>::get(std::get<1>(v_));
  }
  /// The value without moving it (or rethrows).
  decltype(auto) peek() const {
    if (v_.index() == 2) std::rethrow_exception(std::get<2>(v_));
    return Stored<T>::peek(std::get<1>(v_));
  }
  stored_type& stored() { return std::get<1>(v_); }

 private:
  std::variant<std::monostate, stored_type, std::exception_ptr> v_;
};

}  // namespace asyncio::detail
