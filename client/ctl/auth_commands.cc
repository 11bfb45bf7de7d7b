// quorumctl user *, role * and auth *: etcdctl 3.4's auth commands, with its output text.
#include <iostream>

#include "client/ctl/ctl.h"

namespace quorum::ctl {
namespace {

using Args = std::shared_ptr<std::vector<std::string>>;

CLI::App* Sub(CLI::App* parent, const std::string& name, const std::string& help, Args args) {
  auto* cmd = parent->add_subcommand(name, help);
  cmd->add_option("args", *args);
  return cmd;
}

template <typename Response>
Response Must(absl::StatusOr<Response> result) {
  if (!result.ok()) Fail(kExitError, ErrorText(result.status()));
  return *std::move(result);
}

// etcdctl reads a password from the terminal, or with --interactive=false one line of stdin.
std::string ReadPassword() {
  std::string line;
  std::getline(std::cin, line);
  return line;
}

void PrintRoleGet(const std::string& role, const etcdserverpb::AuthRoleGetResponse& r) {
  std::cout << "Role " << role << "\nKV Read:\n";
  auto print = [](const authpb::Permission& p) {
    if (p.range_end().empty()) {
      std::cout << "\t" << p.key() << "\n";
      return;
    }
    if (p.range_end() != std::string(1, '\0')) {
      std::cout << "\t[" << p.key() << ", " << p.range_end() << ")";
    } else {
      std::cout << "\t[" << p.key() << ", <open ended>";
    }
    if (PrefixRangeEnd(p.key()) == p.range_end()) std::cout << " (prefix " << p.key() << ")";
    std::cout << "\n";
  };
  for (const auto& p : r.perm()) {
    if (p.permtype() == authpb::Permission::READ || p.permtype() == authpb::Permission::READWRITE)
      print(p);
  }
  std::cout << "KV Write:\n";
  for (const auto& p : r.perm()) {
    if (p.permtype() == authpb::Permission::WRITE || p.permtype() == authpb::Permission::READWRITE)
      print(p);
  }
}

// etcdctl's permRange: the key and range end from the arguments and --prefix / --from-key.
std::pair<std::string, std::string> PermRange(const std::vector<std::string>& args, bool prefix,
                                              bool from_key) {
  if (prefix && from_key)
    Fail(kExitBadArgs, "--from-key and --prefix flags are mutually exclusive");
  const std::string nul(1, '\0');
  if (args[0].empty()) return {nul, prefix || from_key ? nul : ""};
  if (args.size() == 1) {
    if (prefix) return {args[0], PrefixRangeEnd(args[0])};
    if (from_key) return {args[0], nul};
    return {args[0], ""};
  }
  if (prefix) Fail(kExitBadArgs, "unexpected endkey argument with --prefix flag");
  if (from_key) Fail(kExitBadArgs, "unexpected endkey argument with --from-key flag");
  return {args[0], args[1]};
}

void AddUserCommands(CLI::App& app, CtlContext& ctx) {
  auto* user = app.add_subcommand("user", "User related commands");
  user->require_subcommand(1);

  Args add = std::make_shared<std::vector<std::string>>();
  auto interactive = std::make_shared<bool>(true);
  auto new_password = std::make_shared<std::string>();
  auto no_password = std::make_shared<bool>(false);
  auto* add_cmd = Sub(user, "add", "Adds a new user", add);
  add_cmd->add_option("--interactive", *interactive, "Read password from stdin");
  add_cmd->add_option("--new-user-password", *new_password, "Supply password from the flag");
  add_cmd->add_flag("--no-password", *no_password, "Create a user without password");
  add_cmd->callback([&ctx, add, new_password, no_password] {
    if (add->size() != 1) Fail(kExitBadArgs, "user add command requires user name as its argument");
    std::string name = (*add)[0], password;
    if (auto colon = name.find(':'); colon != std::string::npos) {
      password = name.substr(colon + 1);
      name = name.substr(0, colon);
    } else if (!*no_password) {
      password = new_password->empty() ? ReadPassword() : *new_password;
    }
    if (name.empty()) Fail(kExitBadArgs, "empty user name is not allowed");
    Must(ctx.client().UserAdd(name, password, *no_password));
    std::cout << "User " << name << " created\n";
  });

  Args get = std::make_shared<std::vector<std::string>>();
  auto detail = std::make_shared<bool>(false);
  auto* get_cmd = Sub(user, "get", "Gets detailed information of a user", get);
  get_cmd->add_flag("--detail", *detail, "Show permissions of roles granted to the user");
  get_cmd->callback([&ctx, get, detail] {
    if (get->size() != 1) Fail(kExitBadArgs, "user get command requires user name as its argument");
    const std::string& name = (*get)[0];
    auto r = Must(ctx.client().UserGet(name));
    if (*detail) {
      std::cout << "User: " << name << "\n";
      for (const auto& role : r.roles()) {
        std::cout << "\n";
        PrintRoleGet(role, Must(ctx.client().RoleGet(role)));
      }
      return;
    }
    std::cout << "User: " << name << "\nRoles:";
    for (const auto& role : r.roles()) std::cout << " " << role;
    std::cout << "\n";
  });

  Args list = std::make_shared<std::vector<std::string>>();
  Sub(user, "list", "Lists all users", list)->callback([&ctx, list] {
    if (!list->empty()) Fail(kExitBadArgs, "user list command requires no arguments");
    auto users = Must(ctx.client().UserList());
    for (const auto& u : users.users()) std::cout << u << "\n";
  });

  Args del = std::make_shared<std::vector<std::string>>();
  Sub(user, "delete", "Deletes a user", del)->callback([&ctx, del] {
    if (del->size() != 1) {
      Fail(kExitBadArgs, "user delete command requires user name as its argument");
    }
    Must(ctx.client().UserDelete((*del)[0]));
    std::cout << "User " << (*del)[0] << " deleted\n";
  });

  Args passwd = std::make_shared<std::vector<std::string>>();
  auto passwd_interactive = std::make_shared<bool>(true);
  auto* passwd_cmd = Sub(user, "passwd", "Changes password of user", passwd);
  passwd_cmd->add_option("--interactive", *passwd_interactive, "Read password from stdin");
  passwd_cmd->callback([&ctx, passwd] {
    if (passwd->size() != 1) {
      Fail(kExitBadArgs, "user passwd command requires user name as its argument");
    }
    Must(ctx.client().UserChangePassword((*passwd)[0], ReadPassword()));
    std::cout << "Password updated\n";
  });

  Args grant = std::make_shared<std::vector<std::string>>();
  Sub(user, "grant-role", "Grants a role to a user", grant)->callback([&ctx, grant] {
    if (grant->size() != 2) {
      Fail(kExitBadArgs, "user grant command requires user name and role name as its argument");
    }
    Must(ctx.client().UserGrantRole((*grant)[0], (*grant)[1]));
    std::cout << "Role " << (*grant)[1] << " is granted to user " << (*grant)[0] << "\n";
  });

  Args revoke = std::make_shared<std::vector<std::string>>();
  Sub(user, "revoke-role", "Revokes a role from a user", revoke)->callback([&ctx, revoke] {
    if (revoke->size() != 2) {
      Fail(kExitBadArgs, "user revoke-role requires user name and role name as its argument");
    }
    Must(ctx.client().UserRevokeRole((*revoke)[0], (*revoke)[1]));
    std::cout << "Role " << (*revoke)[1] << " is revoked from user " << (*revoke)[0] << "\n";
  });
}

void AddRoleCommands(CLI::App& app, CtlContext& ctx) {
  auto* role = app.add_subcommand("role", "Role related commands");
  role->require_subcommand(1);

  Args add = std::make_shared<std::vector<std::string>>();
  Sub(role, "add", "Adds a new role", add)->callback([&ctx, add] {
    if (add->size() != 1) Fail(kExitBadArgs, "role add command requires role name as its argument");
    Must(ctx.client().RoleAdd((*add)[0]));
    std::cout << "Role " << (*add)[0] << " created\n";
  });

  Args get = std::make_shared<std::vector<std::string>>();
  Sub(role, "get", "Gets detailed information of a role", get)->callback([&ctx, get] {
    if (get->size() != 1) Fail(kExitBadArgs, "role get command requires role name as its argument");
    PrintRoleGet((*get)[0], Must(ctx.client().RoleGet((*get)[0])));
  });

  Args list = std::make_shared<std::vector<std::string>>();
  Sub(role, "list", "Lists all roles", list)->callback([&ctx, list] {
    if (!list->empty()) Fail(kExitBadArgs, "role list command requires no arguments");
    auto roles = Must(ctx.client().RoleList());
    for (const auto& r : roles.roles()) std::cout << r << "\n";
  });

  Args del = std::make_shared<std::vector<std::string>>();
  Sub(role, "delete", "Deletes a role", del)->callback([&ctx, del] {
    if (del->size() != 1) {
      Fail(kExitBadArgs, "role delete command requires role name as its argument");
    }
    Must(ctx.client().RoleDelete((*del)[0]));
    std::cout << "Role " << (*del)[0] << " deleted\n";
  });

  Args grant = std::make_shared<std::vector<std::string>>();
  auto grant_prefix = std::make_shared<bool>(false);
  auto grant_from_key = std::make_shared<bool>(false);
  auto* grant_cmd = Sub(role, "grant-permission", "Grants a key to a role", grant);
  grant_cmd->add_flag("--prefix", *grant_prefix, "grant a prefix permission");
  grant_cmd->add_flag("--from-key", *grant_from_key, "grant a permission of keys from the key");
  grant_cmd->callback([&ctx, grant, grant_prefix, grant_from_key] {
    if (grant->size() < 3) {
      Fail(kExitBadArgs,
           "role grant command requires role name, permission type, and key [endkey] as its "
           "argument");
    }
    const std::string& type = (*grant)[1];
    authpb::Permission perm;
    if (type == "read" || type == "READ") {
      perm.set_permtype(authpb::Permission::READ);
    } else if (type == "write" || type == "WRITE") {
      perm.set_permtype(authpb::Permission::WRITE);
    } else if (type == "readwrite" || type == "READWRITE") {
      perm.set_permtype(authpb::Permission::READWRITE);
    } else {
      Fail(kExitBadArgs, "invalid permission type: " + type);
    }
    auto [key, end] = PermRange({grant->begin() + 2, grant->end()}, *grant_prefix, *grant_from_key);
    perm.set_key(key);
    perm.set_range_end(end);
    Must(ctx.client().RoleGrantPermission((*grant)[0], perm));
    std::cout << "Role " << (*grant)[0] << " updated\n";
  });

  Args revoke = std::make_shared<std::vector<std::string>>();
  auto revoke_prefix = std::make_shared<bool>(false);
  auto revoke_from_key = std::make_shared<bool>(false);
  auto* revoke_cmd = Sub(role, "revoke-permission", "Revokes a key from a role", revoke);
  revoke_cmd->add_flag("--prefix", *revoke_prefix, "revoke a prefix permission");
  revoke_cmd->add_flag("--from-key", *revoke_from_key, "revoke a permission of keys from the key");
  revoke_cmd->callback([&ctx, revoke, revoke_prefix, revoke_from_key] {
    if (revoke->size() < 2) {
      Fail(kExitBadArgs,
           "role revoke-permission command requires role name and key [endkey] as its argument");
    }
    auto [key, end] =
        PermRange({revoke->begin() + 1, revoke->end()}, *revoke_prefix, *revoke_from_key);
    const std::string& name = (*revoke)[0];
    Must(ctx.client().RoleRevokePermission(name, key, end));
    // etcdctl prints the key as typed.
    const std::string& typed = (*revoke)[1];
    if (end.empty()) {
      std::cout << "Permission of key " << typed << " is revoked from role " << name << "\n";
    } else if (end != std::string(1, '\0')) {
      std::cout << "Permission of range [" << typed << ", " << end << ") is revoked from role "
                << name << "\n";
    } else {
      std::cout << "Permission of range [" << typed << ", <open ended> is revoked from role "
                << name << "\n";
    }
  });
}

void AddAuthSwitchCommands(CLI::App& app, CtlContext& ctx) {
  auto* auth = app.add_subcommand("auth", "Enable or disable authentication");
  auth->require_subcommand(1);
  Args enable = std::make_shared<std::vector<std::string>>();
  Sub(auth, "enable", "Enables authentication", enable)->callback([&ctx, enable] {
    if (!enable->empty()) Fail(kExitBadArgs, "auth enable command does not accept any arguments");
    // etcdctl gives root the root role (adding the role) when the server asks for it.
    for (;;) {
      auto r = ctx.client().AuthEnable();
      if (r.ok()) break;
      if (r.status().message() != "etcdserver: root user does not have root role") {
        Fail(kExitError, ErrorText(r.status()));
      }
      Must(ctx.client().RoleAdd("root"));
      Must(ctx.client().UserGrantRole("root", "root"));
    }
    std::cout << "Authentication Enabled\n";
  });
  Args disable = std::make_shared<std::vector<std::string>>();
  Sub(auth, "disable", "Disables authentication", disable)->callback([&ctx, disable] {
    if (!disable->empty()) {
      Fail(kExitBadArgs, "auth disable command does not accept any arguments");
    }
    Must(ctx.client().AuthDisable());
    std::cout << "Authentication Disabled\n";
  });
}

}  // namespace

void AddAuthCommands(CLI::App& app, CtlContext& ctx) {
  AddUserCommands(app, ctx);
  AddRoleCommands(app, ctx);
  AddAuthSwitchCommands(app, ctx);
}

}  // namespace quorum::ctl
