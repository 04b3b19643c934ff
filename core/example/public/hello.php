<?php
// The example app's PHP page: the engine, the request, a session counter.
session_start();
$_SESSION['visits'] = ($_SESSION['visits'] ?? 0) + 1;
$rows = [
    'PHP' => PHP_VERSION . ' (' . (PHP_ZTS ? 'ZTS' : 'NTS') . ', SAPI ' . PHP_SAPI . ')',
    'OPcache' => function_exists('opcache_get_status') && (opcache_get_status(false)['opcache_enabled'] ?? false) ? 'on' : 'off',
    'Request' => $_SERVER['REQUEST_METHOD'] . ' ' . $_SERVER['REQUEST_URI'],
    'Client' => $_SERVER['REMOTE_ADDR'] . ':' . $_SERVER['REMOTE_PORT'],
    'Server' => $_SERVER['SERVER_SOFTWARE'],
    'Visits in this session' => $_SESSION['visits'],
];
?>
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>PHP on ephpm</title>
<link rel="stylesheet" href="/style.css">
</head>
<body>
<main>
<h1>PHP on ephpm</h1>
<table>
<?php foreach ($rows as $k => $v): ?>
<tr><th><?= htmlspecialchars($k) ?></th><td><?= htmlspecialchars((string)$v) ?></td></tr>
<?php endforeach; ?>
</table>
<p><a href="/">Back</a></p>
</main>
</body>
</html>
