//! Whole loads of projects made of several files: variables, `.env`,
//! `include`, `extends`, env files, and every problem reported in its own
//! file.

use std::path::{Path, PathBuf};

use super::super::*;

struct Stack(tempfile::TempDir);

impl Stack {
    fn new(files: &[(&str, &str)]) -> Stack {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        Stack(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }

    fn load_with(&self, options: LoadOptions) -> Result<Project, FileErrors> {
        load(&self.path("compose.yaml"), &options)
    }

    fn load(&self) -> Project {
        self.load_with(LoadOptions::default())
            .unwrap_or_else(|e| panic!("{}", self.shorten(&e.to_string())))
    }

    /// Every problem as `file:line:col: message`, the directory cut off.
    fn problems(&self) -> Vec<String> {
        self.problems_with(LoadOptions::default())
    }

    fn problems_with(&self, options: LoadOptions) -> Vec<String> {
        match self.load_with(options) {
            Ok(_) => panic!("loads"),
            Err(errors) => errors
                .0
                .iter()
                .map(|e| self.shorten(&e.to_string()))
                .collect(),
        }
    }

    fn shorten(&self, text: &str) -> String {
        text.replace(&format!("{}/", self.0.path().display()), "")
    }
}

/// The problems of a project of one compose file.
fn problems_of(compose: &str) -> Vec<String> {
    Stack::new(&[("compose.yaml", compose)]).problems()
}

/// `file:line:col` of each problem.
fn positions(problems: &[String]) -> Vec<&str> {
    problems
        .iter()
        .map(|p| p.split(": ").next().unwrap())
        .collect()
}

fn environment(project: &Project, service: &str) -> Vec<(String, String)> {
    project.services[service]
        .environment
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn dot_env_is_read_as_compose_reads_it() {
    let stack = Stack::new(&[
        (
            "compose.yaml",
            "services:\n  web:\n    image: busybox\n    environment:\n      A: $A\n      B: ${B}\n      C: '${C:+set}'\n      D: ${D-unset}\n      PROJECT: ${COMPOSE_PROJECT_NAME}\n",
        ),
        (
            ".env",
            "# settings\nexport A=exported\nB=\"two\\nlines\" # comment\nC='' # empty is set\n",
        ),
    ]);
    let project = stack
        .load_with(LoadOptions {
            project_name: Some("shop".into()),
            ..LoadOptions::default()
        })
        .unwrap();
    assert_eq!(
        environment(&project, "web"),
        pairs(&[
            ("A", "exported"),
            ("B", "two\nlines"),
            ("C", ""),
            ("D", "unset"),
            ("PROJECT", "shop")
        ])
    );
}

#[test]
fn the_environment_wins_over_dot_env() {
    let stack = Stack::new(&[
        (
            "compose.yaml",
            "services: {web: {image: \"busybox:${TAG}\"}}\n",
        ),
        (".env", "TAG=file\n"),
    ]);
    let project = stack
        .load_with(LoadOptions {
            environment: [("TAG".to_string(), "shell".to_string())].into(),
            ..LoadOptions::default()
        })
        .unwrap();
    assert_eq!(project.services["web"].image, "busybox:shell");
}

#[test]
fn the_project_name_follows_composes_precedence() {
    let name = |files: &[(&str, &str)], option: Option<&str>| {
        Stack::new(files)
            .load_with(LoadOptions {
                project_name: option.map(str::to_string),
                ..LoadOptions::default()
            })
            .unwrap()
            .name
    };
    let file = (
        "compose.yaml",
        "name: My_${KIND}-App\nservices: {a: {image: busybox}}\n",
    );
    let dot_env = (".env", "KIND=Shop\n");
    let named_in_env = (".env", "KIND=x\nCOMPOSE_PROJECT_NAME=from-env\n");
    assert_eq!(name(&[file, dot_env], None), "my_shop-app");
    assert_eq!(name(&[file, named_in_env], None), "from-env");
    assert_eq!(name(&[file, named_in_env], Some("option")), "option");
    let stack = Stack::new(&[
        ("compose.yaml", "services: {a: {image: busybox}}\n"),
        (".env", "COMPOSE_PROJECT_NAME=Not Valid\n"),
    ]);
    assert_problems(
        &stack.problems(),
        &["compose.yaml:1:1: COMPOSE_PROJECT_NAME \"Not Valid\" is not a project name"],
    );
}

#[test]
fn compose_profiles_enables_profiles_unless_the_caller_names_some() {
    let stack = Stack::new(&[
        (
            "compose.yaml",
            "services:\n  web: {image: busybox}\n  debug: {image: busybox, profiles: [debug]}\n  tools: {image: busybox, profiles: [tools]}\n",
        ),
        (".env", "COMPOSE_PROFILES=debug, tools\n"),
    ]);
    let names = |project: Project| project.services.into_keys().collect::<Vec<_>>();
    assert_eq!(names(stack.load()), ["debug", "tools", "web"]);
    let project = stack
        .load_with(LoadOptions {
            profiles: vec!["tools".into()],
            ..LoadOptions::default()
        })
        .unwrap();
    assert_eq!(names(project), ["tools", "web"]);
}

#[test]
fn env_files_take_the_long_form_and_report_problems_in_their_own_file() {
    let stack = Stack::new(&[
        (
            "compose.yaml",
            "services:\n  web:\n    image: busybox\n    env_file:\n      - common.env\n      - path: ./optional.env\n        required: false\n      - {path: local.env}\n    environment: {B: from-compose}\n",
        ),
        ("common.env", "A=1\nB=2\nC=${A}${A}\n"),
        ("local.env", "A=3 # wins, being later\n"),
    ]);
    assert_eq!(
        environment(&stack.load(), "web"),
        pairs(&[("A", "3"), ("B", "from-compose"), ("C", "11")])
    );

    let stack = Stack::new(&[
        (
            "compose.yaml",
            "services:\n  web:\n    image: busybox\n    env_file: [bad.env, {path: missing.env, required: true}]\n",
        ),
        ("bad.env", "GOOD=1\nNOT VALID=2\nQ='open\n"),
    ]);
    assert_problems(
        &stack.problems(),
        &[
            "compose.yaml:4:25: cannot read env_file …missing.env: No such file",
            "bad.env:2:4: variable name \"NOT VALID\" contains a space",
            "bad.env:3:3: Q: the value's ' is never closed",
        ],
    );
}

#[test]
fn a_missing_compose_file_or_env_file_names_the_path_it_looked_for() {
    let stack = Stack::new(&[]);
    let problems = stack.problems();
    assert_eq!(
        problems,
        ["compose.yaml: cannot read: No such file or directory (os error 2)"]
    );
    let stack = Stack::new(&[("compose.yaml", "services: {web: {image: busybox}}\n")]);
    let problems = stack.problems_with(LoadOptions {
        env_file: Some(stack.path("prod.env")),
        ..LoadOptions::default()
    });
    assert_eq!(
        problems,
        ["prod.env: cannot read: No such file or directory (os error 2)"]
    );
}

#[test]
fn extends_a_service_of_the_same_file() {
    let stack = Stack::new(&[(
        "compose.yaml",
        "x-base: &base\n  restart: always\nservices:\n  base:\n    <<: *base\n    image: busybox\n    environment: [A=1, B=2]\n    cap_add: [NET_ADMIN]\n  web:\n    extends: base\n    environment: {B: 3}\n    cap_add: [SYS_TIME]\n  deeper:\n    extends: {service: web}\n    command: [sleep, '1']\n",
    )]);
    let project = stack.load();
    let web = &project.services["web"];
    assert_eq!(web.image, "busybox");
    assert_eq!(web.restart.as_deref(), Some("always"));
    assert_eq!(
        environment(&project, "web"),
        pairs(&[("A", "1"), ("B", "3")])
    );
    assert_eq!(web.cap_add, ["NET_ADMIN", "SYS_TIME"]);
    let deeper = &project.services["deeper"];
    assert_eq!(
        environment(&project, "deeper"),
        pairs(&[("A", "1"), ("B", "3")])
    );
    assert_eq!(
        deeper.command.as_deref(),
        Some(&["sleep".to_string(), "1".to_string()][..])
    );
}

#[test]
fn extends_a_service_of_another_file_with_its_paths() {
    let stack = Stack::new(&[
        (
            "compose.yaml",
            "services:\n  web:\n    extends: {file: common/base.yaml, service: app}\n    image: busybox:${TAG}\n",
        ),
        (".env", "TAG=1.2\n"),
        (
            "common/base.yaml",
            "services:\n  app:\n    extends: root\n    env_file: app.env\n    volumes: [./data:/data]\n  root:\n    image: alpine\n    restart: unless-stopped\n",
        ),
        ("common/app.env", "FROM_BASE=yes\n"),
    ]);
    let project = stack.load();
    let web = &project.services["web"];
    assert_eq!(web.image, "busybox:1.2");
    assert_eq!(web.restart.as_deref(), Some("unless-stopped"));
    assert_eq!(environment(&project, "web"), pairs(&[("FROM_BASE", "yes")]));
    let source = web.volumes[0].source.as_deref().unwrap();
    assert_eq!(Path::new(source), stack.path("common/data"));
}

#[test]
fn extends_problems_are_positioned() {
    let stack = Stack::new(&[
        (
            "compose.yaml",
            "services:\n  a:\n    extends: b\n  b:\n    extends: a\n    image: x\n  c:\n    extends: nowhere\n    image: x\n  d:\n    extends: {file: other.yaml, service: missing}\n    image: x\n  e:\n    extends: {file: absent.yaml, service: x}\n    image: x\n  f:\n    extends: {service: a, bogus: 1}\n    image: x\n",
        ),
        ("other.yaml", "services: {present: {image: x}}\n"),
    ]);
    let problems = stack.problems();
    assert_problems(
        &problems,
        &[
            "compose.yaml:5:14: extends cycle: a -> b -> a",
            "compose.yaml:8:14: service `c` extends `nowhere`, which is not a service of this file",
            "compose.yaml:11:42: service `d` extends `missing`, which is not a service of ",
            "compose.yaml:14:21: cannot read extends file …absent.yaml",
            "compose.yaml:17:27: unsupported key `bogus` in extends: it takes `service` and `file`",
        ],
    );
    // The whole message, where no temporary path is in it.
    assert_eq!(problems[0], "compose.yaml:5:14: extends cycle: a -> b -> a");
    assert_eq!(
        problems[4],
        "compose.yaml:17:27: unsupported key `bogus` in extends: it takes `service` and `file`"
    );
}

#[test]
fn includes_other_projects_with_their_own_directory_and_variables() {
    let stack = Stack::new(&[
        (
            "compose.yaml",
            "include:\n  - db/compose.yaml\n  - path: proxy/compose.yaml\n    project_directory: proxy\n    env_file: proxy/proxy.env\nservices:\n  app:\n    image: app\n    depends_on: [db, proxy]\n  proxy:\n    environment: {FROM_MAIN: 'yes'}\n",
        ),
        (".env", "SHARED=main\n"),
        (
            "db/compose.yaml",
            "services:\n  db:\n    image: postgres:${PG:-16}\n    env_file: db.env\n    volumes: [./data:/var/lib/postgresql/data, dbdata:/x]\n    environment: {SHARED: $SHARED}\nvolumes:\n  dbdata:\n",
        ),
        ("db/.env", "PG=15\nSHARED=db\n"),
        ("db/db.env", "POSTGRES_PASSWORD=secret\n"),
        (
            "proxy/compose.yaml",
            "services:\n  proxy:\n    image: traefik:${TRAEFIK}\n    environment: {FROM_INCLUDED: 'yes'}\n",
        ),
        ("proxy/proxy.env", "TRAEFIK=v3\n"),
    ]);
    let project = stack.load();
    assert_eq!(project.services["db"].image, "postgres:15");
    assert_eq!(
        environment(&project, "db"),
        // The including file's variables win over the included `.env`.
        pairs(&[("POSTGRES_PASSWORD", "secret"), ("SHARED", "main")])
    );
    let data = project.services["db"].volumes[0].source.as_deref().unwrap();
    assert_eq!(Path::new(data), stack.path("db/data"));
    assert!(project.volumes.contains_key("dbdata"));
    assert_eq!(project.services["proxy"].image, "traefik:v3");
    // The including file's definition is laid over the included one.
    assert_eq!(
        environment(&project, "proxy"),
        pairs(&[("FROM_INCLUDED", "yes"), ("FROM_MAIN", "yes")])
    );
    assert_eq!(project.start_order.last().map(String::as_str), Some("app"));
}

#[test]
fn include_problems_name_their_file() {
    let stack = Stack::new(&[
        (
            "compose.yaml",
            "include:\n  - sub/compose.yaml\n  - missing.yaml\n  - {path: loop.yaml}\nservices:\n  app: {image: app}\n",
        ),
        ("sub/compose.yaml", "services:\n  sub:\n    image: ${NEEDED:?set NEEDED}\n  other:\n    image: x\n    bogus: 1\n"),
        ("loop.yaml", "include: [compose.yaml]\nservices: {}\n"),
    ]);
    let problems = stack.problems();
    assert_problems(
        &problems,
        &[
            "compose.yaml:3:5: cannot read included file …missing.yaml: No such file",
            "sub/compose.yaml:3:12: required variable NEEDED is missing a value: set NEEDED",
            "sub/compose.yaml:6:5: unsupported key `bogus` in service `other`",
            "loop.yaml:1:11: include cycle: ",
        ],
    );
    assert_eq!(
        problems[1],
        "sub/compose.yaml:3:12: required variable NEEDED is missing a value: set NEEDED"
    );
    assert!(problems[3].ends_with("compose.yaml"), "{problems:?}");
}

/// Issue 13: every problem of a file is reported, each where it is, not
/// only the first.
#[test]
fn five_faults_are_five_positioned_problems() {
    let problems = problems_of(
        "services:\n  a:\n    image: ${IMAGE:?set IMAGE}\n  b:\n    image: busybox\n    bogus: 1\n  c:\n    image: busybox\n    restart: sometimes\n  d:\n    image: busybox\n    env_file: missing.env\n  e:\n    image: busybox\n    depends_on: [ghost]\n",
    );
    assert_eq!(problems.len(), 5, "{problems:?}");
    assert_eq!(
        positions(&problems),
        [
            "compose.yaml:3:12",
            "compose.yaml:6:5",
            "compose.yaml:9:14",
            "compose.yaml:12:15",
            "compose.yaml:15:18"
        ]
    );
}

/// Issue 17: a deep nesting is a positioned problem, not a crash.
#[test]
fn deep_nesting_is_a_positioned_problem() {
    let text = format!(
        "services:\n  web:\n    image: busybox\n    command:\n      {}x\n",
        "- ".repeat(3_000)
    );
    let stack = Stack::new(&[("compose.yaml", &text)]);
    assert_problems(
        &stack.problems(),
        &["compose.yaml:5:257: collections nested more than 128 levels deep"],
    );
}

#[test]
fn the_files_digest_changes_with_any_file_read() {
    let stack = Stack::new(&[
        (
            "compose.yaml",
            "include: [db.yaml]\nservices: {web: {image: busybox, env_file: web.env}}\n",
        ),
        ("db.yaml", "services: {db: {image: postgres}}\n"),
        ("web.env", "A=1\n"),
        (".env", "B=2\n"),
    ]);
    let mut last = stack.load().files_digest;
    assert!(last.starts_with("sha256:"), "{last}");
    assert_eq!(stack.load().files_digest, last);
    for (file, text) in [
        ("web.env", "A=2\n"),
        (".env", "B=3\n"),
        ("db.yaml", "services: {db: {image: mariadb}}\n"),
    ] {
        std::fs::write(stack.path(file), text).unwrap();
        let now = stack.load().files_digest;
        assert_ne!(now, last, "{file}");
        last = now;
    }
}

#[test]
fn the_files_digest_is_the_same_for_the_same_project_in_another_directory() {
    let files = [
        (
            "compose.yaml",
            "services: {web: {image: busybox, env_file: web.env}}\n",
        ),
        ("web.env", "A=1\n"),
    ];
    let (here, there) = (Stack::new(&files), Stack::new(&files));
    assert_eq!(here.load().files_digest, there.load().files_digest);
}

#[test]
fn every_faulty_field_of_one_service_is_a_problem() {
    let problems = problems_of(
        "services:\n  web:\n    image: busybox\n    bogus: 1\n    restart: sometimes\n    ports: [not-a-port]\n    also_bogus: 2\n    privileged: maybe\n    healthcheck: {interval: soon}\n    mem_limit: lots\n    pid: sideways\n",
    );
    assert_eq!(
        positions(&problems),
        [
            "compose.yaml:4:5",
            "compose.yaml:5:14",
            "compose.yaml:6:13",
            "compose.yaml:7:5",
            "compose.yaml:8:17",
            "compose.yaml:9:29",
            "compose.yaml:10:16",
            "compose.yaml:11:10"
        ],
        "{problems:?}"
    );
}

#[test]
fn a_broken_secret_is_one_problem_not_one_per_service() {
    let problems = problems_of(
        "secrets:\n  pw: {file: missing.txt}\nservices:\n  a: {image: busybox, secrets: [pw]}\n  b: {image: busybox, secrets: [pw]}\n",
    );
    assert_problems(&problems, &["compose.yaml:2:14: secret `pw`: file"]);
}

#[test]
fn label_files_are_read_in_order_and_labels_win() {
    let stack = Stack::new(&[
        (
            "compose.yaml",
            "services:\n  web:\n    image: busybox\n    label_file: [base.labels, ./more.labels]\n    labels: {tier: front}\n",
        ),
        ("base.labels", "# shared\ncom.example.team=ops\ntier=back\nowner=${UNSET:-nobody}\n"),
        ("more.labels", "com.example.team=web\n"),
    ]);
    let project = stack.load();
    let labels: Vec<(String, String)> = project.services["web"]
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(
        labels,
        pairs(&[
            ("com.example.team", "web"),
            ("owner", "nobody"),
            ("tier", "front")
        ])
    );
    assert_problems(
        &problems_of("services:\n  web:\n    image: busybox\n    label_file: missing.labels\n"),
        &["compose.yaml:4:17: cannot read label_file …missing.labels: No such file"],
    );
}
