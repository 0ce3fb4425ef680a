// The multipart/form-data parser of asyncio::web (Request::post()): GMime, a MIME library, reads
// the body behind the request's own Content-Type line. Compiled into the asyncio::web library so
// that programs need neither GMime's headers nor its compile flags.
#include <asyncio/web.hpp>

#include <gmime/gmime.h>

#include <mutex>

namespace asyncio::web::detail {

/// A multipart/form-data body, parsed by GMime (a MIME library: the body is given to its parser
/// behind the request's own Content-Type line). Fills `files` with the file fields and returns
/// every field, a file's value being its content.
MultiDict parse_multipart(const std::string& content_type, const std::string& body, std::vector<FileField>& files) {
  static std::once_flag once;
  std::call_once(once, [] { g_mime_init(); });
  std::string whole = "Content-Type: " + content_type + "\r\n\r\n" + body;
  GMimeStream* in = g_mime_stream_mem_new_with_buffer(whole.data(), whole.size());
  GMimeParser* parser = g_mime_parser_new_with_stream(in);
  g_object_unref(in);
  GMimeObject* root = g_mime_parser_construct_part(parser, nullptr);
  g_object_unref(parser);
  struct Unref {
    GMimeObject* o;
    ~Unref() {
      if (o) g_object_unref(o);
    }
  } hold{root};
  if (!root || !GMIME_IS_MULTIPART(root))
    throw HTTPBadRequest(HTTPException::Options{.text = "400: Bad Request (malformed multipart body)"});
  GMimeMultipart* mp = GMIME_MULTIPART(root);
  MultiDict out;
  int n = g_mime_multipart_get_count(mp);
  for (int i = 0; i < n; ++i) {
    GMimeObject* part = g_mime_multipart_get_part(mp, i);
    if (GMIME_IS_MULTIPART(part)) throw ValueError("To decode nested multipart you need to use custom reader");
    if (!GMIME_IS_PART(part)) continue;
    const char* name = g_mime_object_get_content_disposition_parameter(part, "name");
    if (!name) throw HTTPBadRequest(HTTPException::Options{.text = "400: Bad Request (a multipart field has no name)"});
    const char* filename = g_mime_object_get_content_disposition_parameter(part, "filename");
    std::string content;
    if (GMimeDataWrapper* w = g_mime_part_get_content(GMIME_PART(part))) {
      GMimeStream* mem = g_mime_stream_mem_new();
      g_mime_data_wrapper_write_to_stream(w, mem);  // (undoes a Content-Transfer-Encoding)
      GByteArray* bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
      content.assign(reinterpret_cast<const char*>(bytes->data), bytes->len);
      g_object_unref(mem);
    }
    if (filename && *filename) {
      FileField f{name, filename, content, {}, {}};
      GMimeHeaderList* hl = g_mime_object_get_header_list(part);
      for (int h = 0; h < g_mime_header_list_get_count(hl); ++h) {
        GMimeHeader* hd = g_mime_header_list_get_header_at(hl, h);
        const char* v = g_mime_header_get_raw_value(hd);
        std::string value = v ? v : "";
        while (!value.empty() && (value.back() == '\n' || value.back() == '\r' || value.back() == ' ')) value.pop_back();
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        f.headers.add(g_mime_header_get_name(hd), value);
      }
      f.content_type = f.headers.get("Content-Type", "application/octet-stream");
      files.push_back(std::move(f));
    }
    out.add(name, std::move(content));
  }
  return out;
}

}  // namespace asyncio::web::detail
