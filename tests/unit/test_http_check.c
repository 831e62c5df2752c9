/*
 * The HTTP front-end's header policy as pure functions (http-check.c):
 * Host values a loopback listener accepts (DNS rebinding), Origin values,
 * Accept for a GET and a POST, and Content-Type.  Each rule at its edges:
 * the three local hosts in any case, ports of 0 to 6 digits, trailing
 * bytes, look-alike hosts and media types.
 */
#include <stddef.h>

#include <criterion/criterion.h>

#include "supervisor/mesh.h"
#include "supervisor/http.h"

Test(http_check, local_hosts_are_accepted_alone)
{
	cr_assert(http_local_hostport("localhost"));
	cr_assert(http_local_hostport("127.0.0.1"));
	cr_assert(http_local_hostport("[::1]"));
}

Test(http_check, local_hosts_are_accepted_in_any_case)
{
	cr_assert(http_local_hostport("LOCALHOST"));
	cr_assert(http_local_hostport("LocalHost:8080"));
}

Test(http_check, ports_of_one_to_five_digits_are_accepted)
{
	cr_assert(http_local_hostport("localhost:1"));
	cr_assert(http_local_hostport("localhost:80"));
	cr_assert(http_local_hostport("127.0.0.1:123"));
	cr_assert(http_local_hostport("127.0.0.1:4567"));
	cr_assert(http_local_hostport("[::1]:45679"));
	cr_assert(http_local_hostport("localhost:00000"));
	cr_assert(http_local_hostport("localhost:65535"));
}

/* Five digits, but no such port. */
Test(http_check, a_port_past_65535_is_refused)
{
	cr_assert_not(http_local_hostport("localhost:65536"));
	cr_assert_not(http_local_hostport("127.0.0.1:99999"));
}

Test(http_check, a_port_of_zero_or_six_digits_is_refused)
{
	cr_assert_not(http_local_hostport("localhost:"));
	cr_assert_not(http_local_hostport("[::1]:"));
	cr_assert_not(http_local_hostport("127.0.0.1:123456"));
	cr_assert_not(http_local_hostport("localhost:000000"));
}

Test(http_check, trailing_bytes_after_host_or_port_are_refused)
{
	cr_assert_not(http_local_hostport("localhost:80x"));
	cr_assert_not(http_local_hostport("localhost:8 0"));
	cr_assert_not(http_local_hostport("localhost:-1"));
	cr_assert_not(http_local_hostport("localhost:+80"));
	cr_assert_not(http_local_hostport("localhost/"));
	cr_assert_not(http_local_hostport("localhost."));
	cr_assert_not(http_local_hostport("localhost::80"));
	cr_assert_not(http_local_hostport("[::1]:80:80"));
}

Test(http_check, look_alike_hosts_are_refused)
{
	cr_assert_not(http_local_hostport(""));
	cr_assert_not(http_local_hostport("localhost.evil.example"));
	cr_assert_not(http_local_hostport("localhostx"));
	cr_assert_not(http_local_hostport("127.0.0.10"));
	cr_assert_not(http_local_hostport("127.0.0.1.evil.example"));
	cr_assert_not(http_local_hostport("127.0.0.2"));
	cr_assert_not(http_local_hostport("::1"));
	cr_assert_not(http_local_hostport("[::1"));
	cr_assert_not(http_local_hostport("[::2]"));
	cr_assert_not(http_local_hostport("evil.example"));
	cr_assert_not(http_local_hostport("evil.example:80"));
	cr_assert_not(http_local_hostport(" localhost"));
}

Test(http_check, origins_of_local_hosts_are_accepted)
{
	cr_assert(http_origin_ok("http://localhost"));
	cr_assert(http_origin_ok("http://localhost:3000"));
	cr_assert(http_origin_ok("https://127.0.0.1"));
	cr_assert(http_origin_ok("https://[::1]:8443"));
	cr_assert(http_origin_ok("HTTP://LOCALHOST:3000"));
	cr_assert(http_origin_ok("HttpS://127.0.0.1"));
}

Test(http_check, other_origins_are_refused)
{
	cr_assert_not(http_origin_ok(""));
	cr_assert_not(http_origin_ok("null"));
	cr_assert_not(http_origin_ok("localhost"));
	cr_assert_not(http_origin_ok("http://"));
	cr_assert_not(http_origin_ok("http://evil.example"));
	cr_assert_not(http_origin_ok("http://localhost.evil.example"));
	cr_assert_not(http_origin_ok("http://localhost:"));
	cr_assert_not(http_origin_ok("http://localhost:123456"));
	cr_assert_not(http_origin_ok("http://localhost/"));
	cr_assert_not(http_origin_ok("ftp://localhost"));
	cr_assert_not(http_origin_ok("ws://localhost"));
	cr_assert_not(http_origin_ok("http:/localhost"));
	cr_assert_not(http_origin_ok("httpx://localhost"));
	cr_assert_not(http_origin_ok("file://"));
}

Test(http_check, a_get_needs_only_the_event_stream)
{
	cr_assert(http_accepts_value("text/event-stream", 0));
	cr_assert(http_accepts_value("TEXT/Event-Stream", 0));
	cr_assert(http_accepts_value("application/json, text/event-stream",
	    0));
	cr_assert_not(http_accepts_value("application/json", 0));
	cr_assert_not(http_accepts_value("*/*", 0));
	cr_assert_not(http_accepts_value("", 0));
	cr_assert_not(http_accepts_value(NULL, 0));
}

Test(http_check, a_post_needs_json_and_the_event_stream)
{
	cr_assert(http_accepts_value("application/json, text/event-stream",
	    1));
	cr_assert(http_accepts_value("text/event-stream;q=0.9, "
	    "application/json;q=1", 1));
	cr_assert(http_accepts_value("Application/JSON,Text/Event-Stream", 1));
	cr_assert_not(http_accepts_value("text/event-stream", 1));
	cr_assert_not(http_accepts_value("application/json", 1));
	cr_assert_not(http_accepts_value("*/*", 1));
	cr_assert_not(http_accepts_value("", 1));
	cr_assert_not(http_accepts_value(NULL, 1));
}

Test(http_check, json_content_type_with_parameters_is_accepted)
{
	cr_assert(http_is_json_value("application/json"));
	cr_assert(http_is_json_value("APPLICATION/JSON"));
	cr_assert(http_is_json_value("application/json;charset=utf-8"));
	cr_assert(http_is_json_value("application/json; charset=utf-8"));
	cr_assert(http_is_json_value("application/json ; charset=utf-8"));
	cr_assert(http_is_json_value("application/json;"));
	cr_assert(http_is_json_value("application/json "));
	cr_assert(http_is_json_value("application/json\t"));
}

Test(http_check, leading_spaces_before_the_content_type_are_skipped)
{
	cr_assert(http_is_json_value(" application/json"));
	cr_assert(http_is_json_value("\t application/json"));
}

Test(http_check, other_content_types_are_refused)
{
	cr_assert_not(http_is_json_value(NULL));
	cr_assert_not(http_is_json_value(""));
	cr_assert_not(http_is_json_value(" "));
	cr_assert_not(http_is_json_value("application/jsonx"));
	cr_assert_not(http_is_json_value("application/json-seq"));
	cr_assert_not(http_is_json_value("application/json+ld"));
	cr_assert_not(http_is_json_value("application/jso"));
	cr_assert_not(http_is_json_value("application/x-json"));
	cr_assert_not(http_is_json_value("text/json"));
	cr_assert_not(http_is_json_value("text/plain"));
	cr_assert_not(http_is_json_value("application/json,text/plain"));
	cr_assert_not(http_is_json_value("xapplication/json"));
}
