//! Size limits on every route (docs/endpoints.md, docs/errors.md), through the real
//! listener: 414 for an over-long URI, 431 for over-large headers, 413 for an
//! over-large body, each before any handler does work.

use crate::common::{TestDb, TestServer, raw_http};

const POST_ROUTES: &[&str] = &[
    "/v1/oauth/token",
    "/v1/oauth/revoke",
    "/v1/oauth/introspect",
    "/v1/signin",
    "/v1/refresh",
    "/v1/signout",
];

fn status_line(resp: &str) -> &str {
    resp.lines().next().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uri_header_and_body_limits_hold_on_every_route() {
    let db = TestDb::sqlite().await;
    let server = TestServer::start(&db).await;
    let addr = server.server.addr;
    let mut routes: Vec<&str> = latchkey::http::ROUTES.to_vec();
    routes.push("/no/such/route");
    for route in routes {
        // 414: a URI over 8 KiB (the head still fits hyper's buffer).
        let long = format!(
            "GET {route}?q={} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            "a".repeat(9 * 1024)
        );
        let resp = raw_http(addr, long.as_bytes()).await;
        assert!(
            status_line(&resp).contains(" 414 "),
            "{route}: {}",
            status_line(&resp)
        );
        assert!(
            resp.contains("invalid_request"),
            "{route}: a JSON error body"
        );
        // 431: headers over 16 KiB in total, each one modest.
        let mut req = format!("GET {route} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
        for i in 0..5 {
            req.push_str(&format!("x-filler-{i}: {}\r\n", "b".repeat(4000)));
        }
        req.push_str("\r\n");
        let resp = raw_http(addr, req.as_bytes()).await;
        assert!(
            status_line(&resp).contains(" 431 "),
            "{route}: {}",
            status_line(&resp)
        );
        // 431 from hyper itself: a head beyond its buffer never reaches the router.
        let huge = format!(
            "GET {route} HTTP/1.1\r\nHost: x\r\nx-big: {}\r\nConnection: close\r\n\r\n",
            "c".repeat(64 * 1024)
        );
        let resp = raw_http(addr, huge.as_bytes()).await;
        assert!(
            status_line(&resp).contains(" 431 "),
            "{route}: {}",
            status_line(&resp)
        );
    }
    // 413: a body over 16 KiB on every POST endpoint, with and without a
    // Content-Length (chunked).
    for route in POST_ROUTES {
        let body = format!("grant_type=password&x={}", "d".repeat(17 * 1024));
        let resp = server
            .http
            .post(server.url(route))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", "latchkey_refresh=r; latchkey_csrf=c")
            .header("x-csrf-token", "c")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 413, "{route}");
        let json: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(json["error"], "invalid_request");
        let mut req = format!(
            "POST {route} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Cookie: latchkey_refresh=r; latchkey_csrf=c\r\nX-CSRF-Token: c\r\n\
             Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        );
        for chunk in body.as_bytes().chunks(1024) {
            req.push_str(&format!(
                "{:x}\r\n{}\r\n",
                chunk.len(),
                String::from_utf8_lossy(chunk)
            ));
        }
        req.push_str("0\r\n\r\n");
        let resp = raw_http(addr, req.as_bytes()).await;
        assert!(
            status_line(&resp).contains(" 413 "),
            "{route} (chunked): {}",
            status_line(&resp)
        );
    }
    server.server.shutdown().await;
}
